"""Tests for the derive stage: crop-to-fill, exact sizes, formats, determinism."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from pipeline.derive import derive, fill_box
from pipeline.images import image_size, sniff_format

RED = (220, 20, 20)
BLUE = (20, 40, 220)
MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff",
    "webp": b"RIFF",
    "ico": b"\x00\x00\x01\x00",
}
PIL_FORMAT = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "ico": "ICO"}


def _encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _striped_master(size: tuple[int, int], vertical: bool) -> bytes:
    """Outer thirds red and the middle third blue, split along the long side."""
    image = Image.new("RGB", size, RED)
    w, h = size
    box = (w // 3, 0, 2 * w // 3 - 1, h - 1) if vertical else (0, h // 3, w - 1, 2 * h // 3 - 1)
    ImageDraw.Draw(image).rectangle(box, fill=BLUE)
    return _encode(image)


@functools.lru_cache(maxsize=4)
def _gradient_master(size: tuple[int, int] = (2048, 1024), mode: str = "RGB") -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    ImageDraw.Draw(image).ellipse((100, 100, 700, 700), fill=(200, 90, 30, 255)[: len(mode)])
    return _encode(image)


def _blue_share(image: Image.Image) -> float:
    rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
    blue = sum(count for count, (r, _, b) in colours if b > 180 and r < 80)
    return blue / (rgb.width * rgb.height)


def _riff_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 12
    for _ in range(len(data) // 8):  # each chunk takes 8 bytes or more: no endless loop
        if pos >= len(data):
            break
        tag, length = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append(tag)
        pos += 8 + length + (length & 1)
    return chunks


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    for _ in range(len(data) // 12):  # each chunk takes 12 bytes or more: no endless loop
        if pos >= len(data):
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_wide_master_cropped_to_square_keeps_the_middle(fmt: str) -> None:
    out = _decode(derive(_striped_master((900, 300), vertical=True), 256, 256, fmt))
    assert out.size == (256, 256)
    assert _blue_share(out) > 0.95


def test_tall_master_cropped_to_square_keeps_the_middle() -> None:
    out = _decode(derive(_striped_master((300, 900), vertical=False), 300, 300, "png"))
    assert out.size == (300, 300)
    assert _blue_share(out) > 0.95


def test_crop_to_fill_has_no_letterbox() -> None:
    out = _decode(derive(_striped_master((900, 300), vertical=True), 900, 100, "png"))
    # 9:1 from 3:1 trims top and bottom, so every column still shows red-blue-red
    row = [out.getpixel((x, 50)) for x in (10, 450, 890)]
    assert row[0][0] > 180 and row[1][2] > 180 and row[2][0] > 180


@pytest.mark.parametrize(
    ("source", "target", "box"),
    [
        ((900, 300), (100, 100), (300.0, 0.0, 600.0, 300.0)),
        ((300, 900), (100, 100), (0.0, 300.0, 300.0, 600.0)),
        # 1200:630 is narrower than 2:1, so the sides are trimmed
        ((2048, 1024), (1200, 630), (1024 - 512 * 1200 / 630, 0, 1024 + 512 * 1200 / 630, 1024)),
        ((1000, 1000), (1000, 1000), (0.0, 0.0, 1000.0, 1000.0)),
    ],
)
def test_fill_box(source: tuple[int, int], target: tuple[int, int], box: tuple[float, ...]) -> None:
    got = fill_box(source, target)
    assert got == pytest.approx(box)
    width, height = got[2] - got[0], got[3] - got[1]
    assert width / height == pytest.approx(target[0] / target[1])


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
@pytest.mark.parametrize(
    ("width", "height"), [(1200, 630), (630, 1200), (1, 1), (2048, 1024), (3000, 900)]
)
def test_exact_dimensions_magic_and_decode(fmt: str, width: int, height: int) -> None:
    data = derive(_gradient_master(), width, height, fmt)
    assert data.startswith(MAGIC[fmt])
    assert sniff_format(data) == fmt
    image = _decode(data)
    assert image.format == PIL_FORMAT[fmt]
    assert image.size == (width, height)
    assert image_size(data) == (width, height)


@pytest.mark.parametrize("size", [16, 32, 48, 64, 128, 256])
def test_ico_sizes(size: int) -> None:
    data = derive(_gradient_master(mode="RGBA"), size, size, "ico")
    assert data.startswith(MAGIC["ico"])
    assert sniff_format(data) == "ico"
    image = _decode(data)
    assert image.format == "ICO"
    assert image.size == (size, size)
    assert image.info["sizes"] == {(size, size)}


@pytest.mark.parametrize(
    ("width", "height", "fmt"),
    [(1200, 630, "png"), (1200, 630, "jpg"), (1200, 630, "webp"), (64, 64, "ico")],
)
def test_output_is_deterministic(width: int, height: int, fmt: str) -> None:
    master = _gradient_master(mode="RGBA")
    assert derive(master, width, height, fmt) == derive(master, width, height, fmt)


def test_jpg_of_rgba_master_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((200, 0, 399, 399), fill=(*BLUE, 255))
    out = _decode(derive(_encode(image), 200, 200, "jpg"))
    assert out.mode == "RGB"
    assert all(abs(c - 255) <= 3 for c in out.getpixel((20, 100)))  # transparent -> white
    r, _, b = out.getpixel((180, 100))
    assert b > 180 and r < 60


def test_jpg_of_half_transparent_master_blends_with_white() -> None:
    master = _encode(Image.new("RGBA", (100, 100), (0, 0, 0, 128)))
    r, g, b = _decode(derive(master, 50, 50, "jpg")).getpixel((25, 25))
    assert all(120 <= c <= 135 for c in (r, g, b))


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_alpha_is_kept_where_the_format_supports_it(fmt: str) -> None:
    master = _encode(Image.new("RGBA", (300, 300), (*RED, 0)))
    out = _decode(derive(master, 100, 100, fmt))
    assert out.mode == "RGBA"
    assert out.getpixel((50, 50))[3] == 0


def test_palette_master_with_transparency() -> None:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([*RED, *BLUE])
    ImageDraw.Draw(image).rectangle((32, 0, 63, 63), fill=1)
    master = _encode(image, transparency=0)
    out = _decode(derive(master, 32, 32, "png"))
    assert out.mode == "RGBA"
    assert out.getpixel((2, 16))[3] == 0
    assert out.getpixel((30, 16)) == (*BLUE, 255)


def test_same_size_png_goes_through_the_same_path() -> None:
    master_image = Image.new("RGB", (320, 200), RED)
    ImageDraw.Draw(master_image).ellipse((50, 20, 250, 180), fill=BLUE)
    master = _encode(master_image, pnginfo=_text_info())
    out = derive(master, 320, 200, "png")
    assert out == derive(master, 320, 200, "png")
    decoded = _decode(out)
    assert decoded.size == (320, 200)
    assert decoded.convert("RGB").tobytes() == master_image.tobytes()
    assert b"tEXt" not in _png_chunks(out)


def _text_info() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "generated by a model")
    return info


def _master_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "a description"  # ImageDescription
    image = Image.new("RGB", (400, 200), BLUE)
    return _encode(image, pnginfo=_text_info(), exif=exif.tobytes(), icc_profile=b"icc" * 50)


def test_metadata_is_stripped_from_png() -> None:
    master = _master_with_metadata()
    assert {b"tEXt", b"eXIf", b"iCCP"} <= set(_png_chunks(master))
    out = derive(master, 200, 100, "png")
    assert set(_png_chunks(out)) == {b"IHDR", b"IDAT", b"IEND"}


def test_metadata_is_stripped_from_jpg_and_webp() -> None:
    master = _master_with_metadata()
    jpg = derive(master, 200, 100, "jpg")
    assert b"Exif" not in jpg and b"ICC_PROFILE" not in jpg
    assert not _decode(jpg).getexif()
    webp = derive(master, 200, 100, "webp")
    assert not {b"EXIF", b"ICCP", b"XMP "} & set(_riff_chunks(webp))


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (200, 100), RED)
    ImageDraw.Draw(image).rectangle((100, 0, 199, 99), fill=BLUE)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left half on top
    out = _decode(derive(_encode(image, exif=exif.tobytes()), 50, 100, "png"))
    assert out.getpixel((25, 10)) == RED
    assert out.getpixel((25, 90)) == BLUE


def test_upscaling_a_small_master() -> None:
    out = _decode(derive(_striped_master((90, 30), vertical=True), 512, 512, "webp"))
    assert out.size == (512, 512)


@pytest.mark.parametrize("fmt", ["gif", "jpeg", "PNG", "", "bmp"])
def test_unsupported_format(fmt: str) -> None:
    with pytest.raises(ValueError, match="unsupported output format"):
        derive(_gradient_master(), 64, 64, fmt)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-5, 10), (64, -64)])
@pytest.mark.parametrize("fmt", ["png", "ico"])
def test_non_positive_sizes(width: int, height: int, fmt: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        derive(_gradient_master(), width, height, fmt)


@pytest.mark.parametrize(("width", "height"), [(32, 16), (300, 300), (512, 512), (8, 8)])
def test_bad_ico_sizes(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="ico"):
        derive(_gradient_master(), width, height, "ico")


def test_sniff_format_on_each_format() -> None:
    master = _gradient_master(mode="RGBA")
    for fmt in ("png", "jpg", "webp"):
        assert sniff_format(derive(master, 64, 32, fmt)) == fmt
    assert sniff_format(derive(master, 32, 32, "ico")) == "ico"
    assert sniff_format(bytearray(master)) == "png"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG",
        b"hello, world",
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
        b"GIF89a\x01\x00\x01\x00",
        b"\x00\x00\x02\x00",  # a .cur file, not an icon
        b"<html><body>no svg</body></html>",
        b"an <svg> mentioned in text",
    ],
)
def test_sniff_format_on_garbage(data: bytes) -> None:
    assert sniff_format(data) is None


def test_sniff_format_reads_only_the_header() -> None:
    assert sniff_format(b"\xff\xd8\xff" + b"\x00" * 10) == "jpg"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBP") == "webp"


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(tag + payload))
    return struct.pack(">I", len(payload)) + tag + payload + crc


def test_decompression_bomb_protection_stays_on() -> None:
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)  # 1.6 gigapixels, claimed
    bomb = b"\x89PNG\r\n\x1a\n" + b"".join(
        [
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", zlib.compress(b"")),
            _png_chunk(b"IEND", b""),
        ]
    )
    with pytest.raises(Image.DecompressionBombError):
        derive(bomb, 64, 64, "png")


# --- vector masters, multi-size icos, svg outputs (issue 14) -----------------------------

SVG_NS = "http://www.w3.org/2000/svg"
# 64 x 64 units: a 1-unit black line at x = 31 (crisp at any multiple of 64 px), a red
# square top left and a blue square bottom right.
VECTOR = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="{SVG_NS}" width="64" height="64" '
    'viewBox="0 0 64 64"><script>alert(1)</script>'
    '<rect width="32" height="32" fill="#dc1414"/>'
    '<rect x="32" y="32" width="32" height="32" fill="#1428dc"/>'
    '<rect x="31" width="1" height="64" fill="#000000" onclick="x()"/></svg>'
).encode()


def _near(got: tuple[int, ...], want: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True))


def test_sniff_format_names_svg_masters() -> None:
    assert sniff_format(VECTOR) == "svg"
    assert sniff_format(b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>") == "svg"


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_a_vector_master_renders_raster_outputs_at_their_exact_size(fmt: str) -> None:
    for side in (16, 512):
        image = _decode(derive(VECTOR, side, side, fmt)).convert("RGBA")
        assert image.size == (side, side)
        assert _near(image.getpixel((1, 1))[:3], (220, 20, 20))  # webp is lossy
        assert _near(image.getpixel((side - 2, side - 2))[:3], (20, 40, 220))
        assert image.getpixel((side - 2, 1))[3] == 0  # transparent where nothing is drawn


def test_a_vector_master_is_rendered_not_resized_at_small_sizes() -> None:
    # At 64 px the 1-unit line is exactly column 31, fully black, its neighbours not:
    # a resize of a larger render would smear it.
    image = _decode(derive(VECTOR, 64, 64, "png")).convert("RGBA")
    assert image.getpixel((31, 48)) == (0, 0, 0, 255)
    assert image.getpixel((30, 48))[3] == 0 and image.getpixel((32, 48))[:3] == (20, 40, 220)


def test_a_vector_jpg_is_flattened_onto_white() -> None:
    image = _decode(derive(VECTOR, 64, 64, "jpg"))
    assert image.mode == "RGB"
    assert all(v > 245 for v in image.getpixel((60, 4)))


def test_a_multi_size_ico_holds_every_size_each_cut_at_that_size() -> None:
    sizes = (16, 32, 48, 256)
    for master in (VECTOR, _gradient_master(mode="RGBA")):
        data = derive(master, 256, 256, "ico", ico_sizes=sizes)
        ico = _decode(data)
        assert ico.info["sizes"] == {(s, s) for s in sizes}
        for side in sizes:
            frame = ico.ico.getimage((side, side)).convert("RGBA")
            alone = _decode(derive(master, side, side, "png")).convert("RGBA")
            assert frame.tobytes() == alone.tobytes(), side  # not resized from 256


def test_a_multi_size_ico_is_deterministic() -> None:
    first = derive(VECTOR, 48, 48, "ico", ico_sizes=(16, 32, 48))
    assert derive(VECTOR, 48, 48, "ico", ico_sizes=(48, 16, 32)) == first


@pytest.mark.parametrize(
    ("width", "sizes"), [(32, (16, 48)), (48, (8, 48)), (300, (16, 300)), (32, (16, 24))]
)
def test_ico_sizes_must_fit_the_ico(width: int, sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="ico"):
        derive(VECTOR, width, width, "ico", ico_sizes=sizes)


def test_svg_output_of_the_native_size_is_the_sanitised_master() -> None:
    from pipeline.svg_safe import sanitise

    out = derive(VECTOR, 64, 64, "svg")
    assert out == sanitise(VECTOR)
    assert b"script" not in out and b"onclick" not in out


def test_svg_output_of_another_size_crops_the_viewbox() -> None:
    from lxml import etree

    root = etree.fromstring(derive(VECTOR, 128, 64, "svg"))
    assert root.get("viewBox") == "0 16 64 32"
    assert (root.get("width"), root.get("height")) == ("128", "64")
    assert b"script" not in etree.tostring(root)


def test_svg_output_needs_a_vector_master() -> None:
    with pytest.raises(ValueError, match="vector master"):
        derive(_gradient_master(), 64, 64, "svg")


def test_a_hostile_vector_master_is_refused() -> None:
    from pipeline.svg_safe import SvgRejected

    bomb = b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg"/>'
    with pytest.raises(SvgRejected):
        derive(bomb, 16, 16, "png")

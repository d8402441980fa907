"""fit: cover | contain, pad and safe_zone, on raster and vector masters alike."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from pipeline.derive import derive
from pipeline.derive_fit import contain_size
from pipeline.jobs import Fit

RED = (255, 0, 0)
BLUE = (0, 0, 255)
PAD = (250, 240, 200)
TRANSPARENT = (0, 0, 0, 0)
SVG_NS = "http://www.w3.org/2000/svg"


def _raster(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """Left half red, right half blue, filling the whole image."""
    image = Image.new(mode, size, RED)
    ImageDraw.Draw(image).rectangle((size[0] // 2, 0, size[0], size[1]), fill=BLUE)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _vector(width: int, height: int) -> bytes:
    """The same drawing as `_raster`, as an SVG of width x height units."""
    return (
        f'<svg xmlns="{SVG_NS}" viewBox="0 0 {width} {height}">'
        f'<rect width="{width / 2}" height="{height}" fill="#ff0000"/>'
        f'<rect x="{width / 2}" width="{width / 2}" height="{height}" fill="#0000ff"/></svg>'
    ).encode()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _column(image: Image.Image, x: int) -> list[tuple[int, ...]]:
    return [image.getpixel((x, y)) for y in range(image.height)]


MASTERS = {"raster": _raster((300, 100)), "vector": _vector(300, 100)}


@pytest.mark.parametrize("kind", ["raster", "vector"])
def test_contain_with_pad_shows_the_whole_master_on_the_pad(kind: str) -> None:
    out = _decode(derive(MASTERS[kind], 90, 90, "png", fit=Fit("contain", pad=PAD)))
    assert out.size == (90, 90) and out.mode == "RGB"  # a pad makes it opaque
    column = _column(out, 10)  # a 300x100 master fits as 90x30, rows 30..59
    assert column[:30] == [PAD] * 30 and column[60:] == [PAD] * 30
    assert column[31:59] == [RED] * 28
    assert out.getpixel((80, 45)) == BLUE  # the whole width is there: both halves


@pytest.mark.parametrize("kind", ["raster", "vector"])
def test_contain_without_pad_is_transparent_in_png_and_white_in_jpg(kind: str) -> None:
    png = _decode(derive(MASTERS[kind], 90, 90, "png", fit=Fit("contain"))).convert("RGBA")
    assert png.getpixel((45, 5)) == TRANSPARENT and png.getpixel((10, 45)) == (*RED, 255)
    jpg = _decode(derive(MASTERS[kind], 90, 90, "jpg", fit=Fit("contain")))
    assert all(v >= 250 for v in jpg.getpixel((45, 5)))


@pytest.mark.parametrize("kind", ["raster", "vector"])
def test_cover_still_crops_to_fill(kind: str) -> None:
    out = _decode(derive(MASTERS[kind], 90, 90, "png")).convert("RGBA")
    assert out.getpixel((5, 5)) == (*RED, 255) and out.getpixel((84, 84)) == (*BLUE, 255)
    assert out.getpixel((45, 0))[3] == 255  # no margin


@pytest.mark.parametrize("kind", ["raster", "vector"])
def test_safe_zone_leaves_the_margin_around_the_drawing(kind: str) -> None:
    square = _raster((100, 100)) if kind == "raster" else _vector(100, 100)
    fit = Fit("contain", safe_zone=0.8)
    out = _decode(derive(square, 100, 100, "png", fit=fit)).convert("RGBA")
    alpha = [pixel[3] for pixel in _column(out, 30)]
    assert alpha == [0] * 10 + [255] * 80 + [0] * 10
    row = [out.getpixel((x, 50))[3] for x in range(100)]
    assert row == [0] * 10 + [255] * 80 + [0] * 10


@pytest.mark.parametrize("kind", ["raster", "vector"])
def test_a_maskable_icon_is_opaque(kind: str) -> None:
    fit = Fit("contain", pad=PAD, safe_zone=0.8)
    out = _decode(derive(MASTERS[kind], 512, 512, "png", fit=fit)).convert("RGBA")
    assert out.getchannel("A").getextrema() == (255, 255)
    assert out.getpixel((256, 20)) == (*PAD, 255)  # the safe zone's margin is pad


def test_pad_fills_a_transparent_raster_master_under_cover() -> None:
    master = Image.new("RGBA", (40, 40), TRANSPARENT)
    ImageDraw.Draw(master).rectangle((10, 10, 29, 29), fill=(*RED, 255))
    buffer = io.BytesIO()
    master.save(buffer, "PNG")
    out = _decode(derive(buffer.getvalue(), 40, 40, "png", fit=Fit("cover", pad=PAD)))
    assert out.mode == "RGB" and out.getpixel((2, 2)) == PAD and out.getpixel((20, 20)) == RED


def test_contain_ico_frames_are_each_fitted() -> None:
    data = derive(MASTERS["vector"], 48, 48, "ico", fit=Fit("contain", pad=PAD), ico_sizes=(16, 48))
    ico = _decode(data)
    for side in (16, 48):
        frame = ico.ico.getimage((side, side)).convert("RGB")
        assert frame.getpixel((side // 2, 0)) == PAD
        assert frame.getpixel((1, side // 2)) == RED


def test_contain_svg_output_extends_the_viewbox_with_a_pad() -> None:
    from lxml import etree

    root = etree.fromstring(derive(MASTERS["vector"], 90, 90, "svg", fit=Fit("contain", PAD)))
    assert root.get("viewBox") == "0 -100 300 300"
    assert root[0].get("style").startswith("fill:#faf0c8")


@pytest.mark.parametrize(
    "fit",
    [
        Fit("cover", safe_zone=0.8),
        Fit("stretch"),
        Fit("contain", safe_zone=0),
        Fit("contain", safe_zone=1.5),
    ],
)
def test_fits_derive_cannot_apply_are_refused(fit: Fit) -> None:
    for master in MASTERS.values():
        with pytest.raises(ValueError, match=r"fit|safe_zone"):
            derive(master, 32, 32, "png", fit=fit)


@pytest.mark.parametrize(
    ("source", "target", "zone", "size"),
    [
        ((300, 100), (200, 100), 0.5, (100, 33)),  # the width is the tighter side
        ((100, 300), (100, 200), 0.5, (33, 100)),  # the height is
        ((300, 100), (90, 90), 1.0, (90, 30)),
    ],
)
def test_contain_scales_the_master_to_the_safe_zone_of_its_tighter_side(
    source: tuple[int, int], target: tuple[int, int], zone: float, size: tuple[int, int]
) -> None:
    assert contain_size(source, target, zone) == size


def test_a_hairline_master_is_contained_at_one_pixel_thick_not_more() -> None:
    assert contain_size((1000, 1), (10, 10), 1.0) == (10, 1)
    assert contain_size((1, 1000), (10, 10), 1.0) == (1, 10)


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        (Fit("stretch"), "unknown fit 'stretch'; expected one of ('cover', 'contain')"),
        (Fit("cover", safe_zone=0.8), "safe_zone applies to fit: contain only"),
        (Fit("contain", safe_zone=1.5), "safe_zone must be in (0, 1], got 1.5"),
    ],
)
def test_a_fit_derive_cannot_apply_is_refused_saying_what_would_be_valid(
    fit: Fit, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        derive(MASTERS["raster"], 32, 32, "png", fit=fit)
    assert str(caught.value) == message


def test_a_safe_zone_of_one_is_accepted_and_is_the_whole_output() -> None:
    whole = derive(MASTERS["raster"], 90, 90, "png", fit=Fit("contain"))
    assert derive(MASTERS["raster"], 90, 90, "png", fit=Fit("contain", safe_zone=1)) == whole

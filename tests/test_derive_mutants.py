"""Derive guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/derive.py
that tests/test_derive.py lets through."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from pipeline.derive import derive, fill_box
from pipeline.jobs import Fit
from pipeline.svg_render import sanitised


def _master(mode: str = "RGB", size: tuple[int, int] = (48, 32)) -> bytes:
    """A master with detail (so resampling and encoder settings show in the bytes)."""
    image = Image.new("RGBA", size, (250, 250, 250, 255))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 3):
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(i * 5 % 256, 40, 200, 128 + i))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# The documented fixed settings: Lanczos, JPEG quality 92 (not optimised, baseline), WebP
# quality 90 method 4, PNG compress level 6. A change in any of them changes outputs that
# are cached under keys that do not say so (keys.DERIVE_VERSION would have to move).
SETTINGS: dict[str, dict[str, object]] = {
    "jpg": {"quality": 92, "optimize": False, "progressive": False},
    "webp": {"quality": 90, "method": 4},
    "png": {"compress_level": 6},
}
PIL_FORMAT = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}


@pytest.mark.parametrize("fmt", ["jpg", "webp", "png"])
def test_outputs_are_lanczos_and_the_documented_encoder_settings(fmt: str) -> None:
    master = _master("RGB")
    with Image.open(io.BytesIO(master)) as opened:
        image = opened.convert("RGB")
    fitted = image.resize((20, 20), Image.Resampling.LANCZOS, box=fill_box(image.size, (20, 20)))
    buffer = io.BytesIO()
    fitted.save(buffer, PIL_FORMAT[fmt], **SETTINGS[fmt])  # type: ignore[arg-type]
    assert derive(master, 20, 20, fmt) == buffer.getvalue()


def test_a_grey_master_gives_an_rgb_output() -> None:
    assert _decode(derive(_master("L"), 16, 16, "png")).mode == "RGB"


def test_a_grey_master_with_alpha_keeps_its_transparency() -> None:
    out = _decode(derive(_master("LA"), 16, 16, "png"))
    assert out.mode == "RGBA"
    assert out.getchannel("A").getextrema()[0] < 255


PAD = (250, 240, 200)


def test_an_svg_output_from_a_raster_master_is_refused_naming_what_it_needs() -> None:
    with pytest.raises(ValueError) as caught:
        derive(_master(), 16, 16, "svg")
    assert str(caught.value) == "an svg output needs a vector master (an SVG), not a raster image"


def test_a_contain_svg_output_at_the_masters_own_size_still_gets_its_pad() -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="30" height="10" viewBox="0 0 30 10">'
        b'<rect width="15" height="10" fill="#ff0000"/></svg>'
    )
    out = derive(svg, 30, 10, "svg", fit=Fit("contain", pad=PAD))
    assert b"fill:#faf0c8" in out, "the pad is drawn even where no framing is needed"
    assert derive(svg, 30, 10, "svg") == sanitised(svg), "cover at its own size: the master"


def test_contain_is_lanczos_centred_on_transparency_like_a_by_hand_pipeline() -> None:
    master = _master("RGB")  # 48x32 into 40x40: 40x27, centred at y = 6
    with Image.open(io.BytesIO(master)) as opened:
        image = opened.convert("RGB")
    canvas = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    canvas.paste(image.resize((40, 27), Image.Resampling.LANCZOS).convert("RGBA"), (0, 6))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", compress_level=6)
    assert derive(master, 40, 40, "png", fit=Fit("contain")) == buffer.getvalue()


def test_a_pad_under_cover_changes_nothing_on_an_opaque_master() -> None:
    master = _master("RGB")
    assert derive(master, 20, 20, "png", fit=Fit("cover", pad=PAD)) == derive(master, 20, 20, "png")

"""Derive guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/derive.py
that tests/test_derive.py lets through."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from pipeline.derive import derive, fill_box


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

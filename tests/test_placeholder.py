"""Tests for the offline placeholder renderer."""

from __future__ import annotations

import colorsys
import hashlib
import io
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from pipeline.jobs import GenerationSpec
from pipeline.providers import placeholder
from pipeline.providers.placeholder import (
    DARK_INK,
    ELLIPSIS,
    LIGHT_INK,
    NEUTRAL_BACKGROUND,
    muted_colours,
    render_placeholder,
    wrap_text,
)

ROOT = Path(__file__).resolve().parent.parent
PALETTE = ((14, 59, 92), (242, 153, 74), (235, 87, 87))
PROMPT = "A minimalist flat illustration of a lighthouse at dawn, warm coastal tones"


def _spec(**changes: object) -> GenerationSpec:
    fields: dict[str, object] = {
        "prompt": PROMPT,
        "width": 1344,
        "height": 768,
        "palette": PALETTE,
        "background": (250, 246, 238),
        "style": "flat",
        "seed": 7,
    }
    fields.update(changes)
    return GenerationSpec(**fields)  # type: ignore[arg-type]


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _colour_counts(image: Image.Image) -> Counter[tuple[int, ...]]:
    colours = image.convert("RGB").getcolors(maxcolors=image.width * image.height)
    assert colours is not None
    return Counter({colour: count for count, colour in colours})


def _png_chunk_types(data: bytes) -> list[bytes]:
    types, pos = [], 8
    for _ in range(len(data) // 12):  # each chunk takes 12 bytes or more: no endless loop
        if pos >= len(data):
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        types.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return types


@pytest.mark.parametrize(
    ("width", "height"), [(768, 768), (1344, 768), (768, 1344), (3072, 768), (1000, 3072)]
)
def test_exact_dimensions_and_plain_png(width: int, height: int) -> None:
    data = render_placeholder(_spec(width=width, height=height))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = _decode(data)
    assert image.format == "PNG"
    assert image.size == (width, height)
    assert image.mode == "RGB"
    assert set(_png_chunk_types(data)) == {b"IHDR", b"IDAT", b"IEND"}  # no metadata


def test_same_spec_gives_identical_bytes() -> None:
    assert render_placeholder(_spec()) == render_placeholder(_spec())


def test_identical_bytes_in_another_process() -> None:
    script = (
        "import hashlib, sys\n"
        "from pipeline.jobs import GenerationSpec\n"
        "from pipeline.providers.placeholder import render_placeholder\n"
        f"spec = GenerationSpec(prompt={PROMPT!r}, width=1344, height=768, palette={PALETTE!r},"
        " background=(250, 246, 238), style='flat', seed=7)\n"
        "sys.stdout.write(hashlib.sha256(render_placeholder(spec)).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(render_placeholder(_spec())).hexdigest()


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt": PROMPT + " at night"},
        {"palette": ((10, 120, 60), *PALETTE[1:])},
        {"background": (20, 20, 30)},
        {"seed": 8},
        {"style": "3d"},
    ],
)
def test_any_field_change_changes_the_bytes(changes: dict[str, object]) -> None:
    assert render_placeholder(_spec(**changes)) != render_placeholder(_spec())


@pytest.mark.parametrize(
    "palette",
    [
        PALETTE,
        ((200, 30, 30),),
        ((10, 80, 60), (230, 200, 90), (200, 60, 90), (90, 90, 200), (120, 120, 120)),
    ],
)
@pytest.mark.parametrize(("width", "height"), [(1344, 768), (768, 1344), (1024, 1024)])
def test_palette_colours_are_prominent(
    palette: tuple[tuple[int, int, int], ...], width: int, height: int
) -> None:
    image = _decode(render_placeholder(_spec(palette=palette, width=width, height=height)))
    counts = _colour_counts(image)
    area = width * height
    for colour in palette:
        assert counts[colour] >= 0.03 * area, colour


def test_background_fills_the_rest() -> None:
    background = (250, 246, 238)
    counts = _colour_counts(_decode(render_placeholder(_spec(background=background))))
    assert counts[background] >= 0.25 * 1344 * 768


def test_missing_background_is_neutral_light_grey() -> None:
    counts = _colour_counts(_decode(render_placeholder(_spec(background=None))))
    assert counts[NEUTRAL_BACKGROUND] >= 0.25 * 1344 * 768
    assert min(NEUTRAL_BACKGROUND) >= 200
    assert max(NEUTRAL_BACKGROUND) - min(NEUTRAL_BACKGROUND) <= 10


def test_empty_palette_uses_three_muted_prompt_colours() -> None:
    derived = muted_colours(PROMPT)
    assert len(set(derived)) == 3
    assert derived == muted_colours(PROMPT)
    assert derived != muted_colours("something else entirely")
    for r, g, b in derived:
        _, saturation, value = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
        assert saturation <= 0.45
        assert 0.4 <= value <= 0.85
    counts = _colour_counts(_decode(render_placeholder(_spec(palette=()))))
    for colour in derived:
        assert counts[colour] >= 0.03 * 1344 * 768


@pytest.mark.parametrize(
    ("background", "panel", "ink"),
    [((250, 246, 238), DARK_INK, LIGHT_INK), ((15, 15, 40), LIGHT_INK, DARK_INK)],
)
def test_prompt_is_on_a_contrasting_panel(
    background: tuple[int, int, int], panel: tuple[int, int, int], ink: tuple[int, int, int]
) -> None:
    counts = _colour_counts(_decode(render_placeholder(_spec(background=background))))
    assert counts[panel] >= 0.02 * 1344 * 768
    assert counts[ink] >= 500  # the glyphs themselves


def test_prompt_text_changes_only_the_text_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placeholder, "spec_digest", lambda spec: bytes(32))  # same layout
    first = _decode(render_placeholder(_spec(prompt="Bold coffee logo")))
    second = _decode(render_placeholder(_spec(prompt="Quiet tea packaging")))
    changed = ImageChops.difference(first, second).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    assert right - left >= 100  # whole words differ, not a stray pixel
    assert 768 * 0.2 < top < bottom < 768 * 0.8  # only the vertically centred panel
    panel_pixels = _colour_counts(first.crop(changed))
    assert panel_pixels[DARK_INK] > 0.3 * (right - left) * (bottom - top)


def test_longer_prompt_draws_more_text() -> None:
    short = _colour_counts(_decode(render_placeholder(_spec(prompt="Logo"))))
    long = _colour_counts(_decode(render_placeholder(_spec(prompt=PROMPT * 2))))
    assert long[LIGHT_INK] > 4 * short[LIGHT_INK]


def test_size_caption_sits_in_a_corner() -> None:
    image = _decode(render_placeholder(_spec())).convert("RGB")
    w, h = image.size
    cw, ch = w // 8, h // 10
    corners = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    with_caption = [
        c
        for c in corners
        if (counts := _colour_counts(image.crop((c[0], c[1], c[0] + cw, c[1] + ch))))[DARK_INK]
        and counts[LIGHT_INK]
    ]
    assert len(with_caption) == 1


def test_wrap_text_fits_and_truncates_with_ellipsis() -> None:
    font = placeholder._font(40)
    text = " ".join(["lorem ipsum dolor"] * 60) + " " + "x" * 400
    lines = wrap_text(text, font, max_width=600, max_lines=4)
    assert len(lines) == 4
    assert lines[-1].endswith(ELLIPSIS)
    assert all(font.getlength(line) <= 600 for line in lines)
    assert wrap_text("short prompt", font, 600, 4) == ["short prompt"]


def test_long_unbroken_word_is_split_across_lines() -> None:
    font = placeholder._font(40)
    lines = wrap_text("y" * 200, font, max_width=300, max_lines=50)
    assert len(lines) > 1
    assert "".join(lines) == "y" * 200
    assert all(font.getlength(line) <= 300 for line in lines)


def test_very_long_prompt_is_truncated_quickly() -> None:
    start = time.perf_counter()
    data = render_placeholder(_spec(prompt="word " * 20000))
    # a bound, not a benchmark: 0.08 s on this loaded 2-core machine; what it catches is
    # wrapping all 20000 words instead of stopping at the panel's last line
    assert time.perf_counter() - start < 30.0
    assert _decode(data).size == (1344, 768)


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "   \n\t ",
        "ünïcödé 漢字かな 😀🎨 e\u0301 مرحبا \u202eRTL\u202c",
        "nul\x00 and lone surrogate \ud800 and zero\u200bwidth",
        "🙂" * 500,
    ],
    ids=["empty", "whitespace", "scripts", "controls", "emoji-run"],
)
def test_any_unicode_prompt_renders(prompt: str) -> None:
    first = render_placeholder(_spec(prompt=prompt, palette=()))
    assert _decode(first).size == (1344, 768)
    assert first == render_placeholder(_spec(prompt=prompt, palette=()))


def test_tiny_size_still_renders() -> None:
    assert _decode(render_placeholder(_spec(width=40, height=30))).size == (40, 30)


@pytest.mark.parametrize(("width", "height"), [(0, 768), (768, -1)])
def test_non_positive_size_is_rejected(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        render_placeholder(_spec(width=width, height=height))


def test_2048_square_renders_fast() -> None:
    spec = _spec(width=2048, height=2048)
    render_placeholder(spec)  # warm the font cache
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        render_placeholder(spec)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 5.0  # a bound: 0.3 s measured on a loaded 2-core box

"""Offline placeholder renderer: the stand-in for an AI image model.

`render_placeholder` paints a deterministic PNG from a `GenerationSpec` so that a
contact sheet of placeholders already shows a brand kit's layout and colours:

* the background colour (or a neutral light grey) fills the canvas;
* the palette colours (or three muted colours derived from the prompt) form a band
  of stripes or blocks along one edge, in palette order, plus a large accent disc;
* the prompt is wrapped on an opaque, contrasting panel, truncated with an ellipsis
  when it does not fit, and a small "WxH" caption sits in a corner.

All variation comes from a `random.Random` seeded with a sha256 of the spec's fields,
and the PNG carries no metadata, so the same spec always gives the same bytes.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from PIL import Image, ImageDraw, ImageFont

from pipeline.jobs import RGB, GenerationSpec

NEUTRAL_BACKGROUND: RGB = (228, 228, 224)
DARK_INK: RGB = (28, 28, 32)
LIGHT_INK: RGB = (248, 248, 245)
PNG_COMPRESS_LEVEL = 2
ELLIPSIS = "…"
EMPTY_PROMPT_TEXT = "(empty prompt)"

BAND_DEPTH = (0.30, 0.40)  # fraction of the canvas the colour band covers
TEXT_SIZE = 0.046  # prompt font size, as a fraction of the shorter side
CAPTION_SIZE = 0.022  # caption font size, as a fraction of the shorter side
MARGIN = 0.035  # outer margin, as a fraction of the shorter side
PANEL_MAX_HEIGHT = 0.72  # of the free area (the canvas minus the colour band)
PANEL_MAX_WIDTH = 0.86  # of the free area

Box = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the colour band went, and what is left for the text."""

    band: Box
    free: Box
    side: str  # left | right | top | bottom


def render_placeholder(spec: GenerationSpec) -> bytes:
    """Render `spec` as PNG bytes of exactly spec.width x spec.height pixels."""
    width, height = _checked_size(spec)
    rng = random.Random(int.from_bytes(spec_digest(spec), "big"))
    background = spec.background if spec.background is not None else NEUTRAL_BACKGROUND
    colours = spec.palette or muted_colours(spec.prompt)
    image = Image.new("RGB", (width, height), tuple(background))
    draw = ImageDraw.Draw(image)
    layout = _paint_band(draw, (width, height), colours, rng)
    _paint_accent(draw, layout, colours[0], rng)
    panel, ink = _panel_colours(background)
    unit = min(width, height)
    _paint_prompt(draw, spec.prompt, layout.free, unit, (panel, ink))
    _paint_caption(draw, f"{width}x{height}", layout, unit, (panel, ink))
    return _encode_png(image)


def spec_digest(spec: GenerationSpec) -> bytes:
    """The sha256 of the spec's canonical fields (stable across processes)."""
    payload = json.dumps(spec.canonical(), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(payload.encode("ascii")).digest()


def muted_colours(prompt: str, count: int = 3) -> tuple[RGB, ...]:
    """`count` muted, evenly spaced hues derived from a sha256 of the prompt."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    base = digest[0] / 256
    colours = []
    for i in range(count):
        hue = (base + i / count + digest[1 + i] / 2560) % 1.0
        saturation = 0.22 + digest[8 + i] / 255 * 0.16
        value = 0.52 + digest[16 + i] / 255 * 0.26
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colours)


def _checked_size(spec: GenerationSpec) -> tuple[int, int]:
    if spec.width < 1 or spec.height < 1:
        raise ValueError(f"placeholder size must be positive, got {spec.width}x{spec.height}")
    return spec.width, spec.height


def _paint_band(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], colours: Sequence[RGB], rng: random.Random
) -> _Layout:
    """Paint the palette as stripes (parallel to an edge) or blocks (along it)."""
    layout = _band_layout(size, rng)
    stripes = rng.random() < 0.5
    weights = [rng.uniform(0.75, 1.25) for _ in colours]
    x0, y0, x1, y1 = layout.band
    vertical_cuts = (layout.side in ("left", "right")) == stripes
    start, end = (x0, x1) if vertical_cuts else (y0, y1)
    spans = _split(start, end, weights)
    if stripes and layout.side in ("right", "bottom"):
        spans.reverse()  # palette order runs from the outer edge inwards
    for colour, (a, b) in zip(colours, spans, strict=True):
        box = (a, y0, b - 1, y1 - 1) if vertical_cuts else (x0, a, x1 - 1, b - 1)
        if b > a:
            draw.rectangle(box, fill=tuple(colour))
    return layout


def _band_layout(size: tuple[int, int], rng: random.Random) -> _Layout:
    """Put the band on a side across the long axis, so the text keeps the long side."""
    width, height = size
    if width > height:
        side = rng.choice(("left", "right"))
    elif height > width:
        side = rng.choice(("top", "bottom"))
    else:
        side = rng.choice(("left", "right", "top", "bottom"))
    depth_fraction = rng.uniform(*BAND_DEPTH)
    if side in ("left", "right"):
        depth = round(width * depth_fraction)
        cut = depth if side == "left" else width - depth
        band, free = ((0, 0, cut, height), (cut, 0, width, height))
    else:
        depth = round(height * depth_fraction)
        cut = depth if side == "top" else height - depth
        band, free = ((0, 0, width, cut), (0, cut, width, height))
    if side in ("right", "bottom"):
        band, free = free, band
    return _Layout(band=band, free=free, side=side)


def _split(start: int, end: int, weights: Sequence[float]) -> list[tuple[int, int]]:
    """Split [start, end) into consecutive integer spans proportional to `weights`."""
    total = sum(weights)
    bounds = [start]
    running = 0.0
    for weight in weights[:-1]:
        running += weight
        bounds.append(start + round((end - start) * running / total))
    bounds.append(end)
    return list(pairwise(bounds))


def _paint_accent(
    draw: ImageDraw.ImageDraw, layout: _Layout, colour: RGB, rng: random.Random
) -> None:
    """A large disc in the primary colour, partly off-canvas in a corner of the free area."""
    x0, y0, x1, y1 = layout.free
    radius = round(min(x1 - x0, y1 - y0) * rng.uniform(0.22, 0.30))
    cx, cy = _accent_corner(layout)
    jitter = radius * 0.35
    cx += round(rng.uniform(-jitter, jitter)) if layout.side in ("top", "bottom") else 0
    cy += round(rng.uniform(-jitter, jitter)) if layout.side in ("left", "right") else 0
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=tuple(colour))


def _accent_corner(layout: _Layout) -> tuple[int, int]:
    """The free area's corner away from the band and from the caption."""
    x0, y0, x1, y1 = layout.free
    corners = {"left": (x1, y0), "right": (x0, y0), "top": (x1, y1), "bottom": (x1, y0)}
    return corners[layout.side]


def _caption_corner(layout: _Layout) -> tuple[str, str]:
    """(horizontal, vertical) corner of the free area that holds the caption."""
    corners = {
        "left": ("right", "bottom"),
        "right": ("left", "bottom"),
        "top": ("left", "bottom"),
        "bottom": ("left", "top"),
    }
    return corners[layout.side]


def _panel_colours(background: Sequence[int]) -> tuple[RGB, RGB]:
    """(panel, ink): a panel that contrasts with the background, and its text colour."""
    r, g, b = background
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (DARK_INK, LIGHT_INK) if luminance >= 128 else (LIGHT_INK, DARK_INK)


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # pragma: no cover - Pillow w/o FreeType
        raise RuntimeError("the placeholder renderer needs Pillow built with FreeType")
    return font


def _paint_prompt(
    draw: ImageDraw.ImageDraw, prompt: str, free: Box, unit: int, colours: tuple[RGB, RGB]
) -> None:
    """Wrap the prompt on an opaque panel centred in the free area."""
    font = _font(max(8, round(unit * TEXT_SIZE)))
    x0, y0, x1, y1 = free
    pad = max(4, round(font.size * 0.7))
    line_height = _line_height(font)
    max_width = max(1, round((x1 - x0) * PANEL_MAX_WIDTH) - 2 * pad)
    max_lines = max(1, (round((y1 - y0) * PANEL_MAX_HEIGHT) - 2 * pad) // line_height)
    text = " ".join(prompt.split()) or EMPTY_PROMPT_TEXT
    lines = wrap_text(text, font, max_width, max_lines)
    text_width = max(font.getlength(line) for line in lines)
    panel_w = round(text_width) + 2 * pad
    panel_h = len(lines) * line_height + 2 * pad
    left = (x0 + x1 - panel_w) // 2
    top = (y0 + y1 - panel_h) // 2
    panel, ink = colours
    draw.rounded_rectangle(
        (left, top, left + panel_w - 1, top + panel_h - 1), radius=pad, fill=panel
    )
    centre = left + panel_w // 2
    for i, line in enumerate(lines):
        draw.text((centre, top + pad + i * line_height), line, font=font, fill=ink, anchor="ma")


def _line_height(font: Font) -> int:
    ascent, descent = font.getmetrics()
    return max(1, round((ascent + descent) * 1.12))


def wrap_text(text: str, font: Font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to `max_lines`; the last line ends in an ellipsis if text is cut."""
    lines: list[str] = []
    for line in _wrapped_lines(text, font, max_width):
        if len(lines) == max_lines:
            lines[-1] = _ellipsize(lines[-1], font, max_width)
            break
        lines.append(line)
    return lines


def _wrapped_lines(text: str, font: Font, max_width: int) -> Iterator[str]:
    current = ""
    for word in text.split(" "):
        for piece in _fit_pieces(word, font, max_width):
            candidate = f"{current} {piece}" if current else piece
            if not current or font.getlength(candidate) <= max_width:
                current = candidate
            else:
                yield current
                current = piece
    if current:
        yield current


def _fit_pieces(word: str, font: Font, max_width: int) -> Iterator[str]:
    """Break a word that is wider than a line into pieces that fit."""
    if font.getlength(word) <= max_width:
        yield word
        return
    piece = ""
    for char in word:
        if piece and font.getlength(piece + char) > max_width:
            yield piece
            piece = ""
        piece += char
    if piece:
        yield piece


def _ellipsize(line: str, font: Font, max_width: int) -> str:
    while line and font.getlength(line + ELLIPSIS) > max_width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


def _paint_caption(
    draw: ImageDraw.ImageDraw, caption: str, layout: _Layout, unit: int, colours: tuple[RGB, RGB]
) -> None:
    """A small "WxH" label on its own panel in a corner of the free area."""
    font = _font(max(8, round(unit * CAPTION_SIZE)))
    pad = max(2, round(font.size * 0.45))
    margin = max(2, round(unit * MARGIN / 2))
    ascent, descent = font.getmetrics()
    panel_w = round(font.getlength(caption)) + 2 * pad
    panel_h = ascent + descent + 2 * pad
    x0, y0, x1, y1 = layout.free
    horizontal, vertical = _caption_corner(layout)
    left = x0 + margin if horizontal == "left" else x1 - margin - panel_w
    top = y0 + margin if vertical == "top" else y1 - margin - panel_h
    panel, ink = colours
    draw.rounded_rectangle(
        (left, top, left + panel_w - 1, top + panel_h - 1), radius=pad, fill=panel
    )
    draw.text((left + pad, top + pad), caption, font=font, fill=ink, anchor="la")


def _encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()

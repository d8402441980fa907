"""Offline placeholder for a vector model: a deterministic SVG in the brand palette.

The stand-in for an SVG a vector model returns, so a vector kit builds, renders and
publishes with no key and no network: a `viewBox` of the model's native size, the
background colour (or a neutral grey) filling it, the palette colours (or three muted
colours from the prompt) as a band of stripes along one edge and a disc, all edges on
whole units so a render at any exact size stays crisp. No text (rendering it would need
fonts), no script and no external reference: the sanitiser has nothing to remove. The
same spec always gives the same bytes (every choice comes from a sha256 of the spec).
"""

from __future__ import annotations

import random

from pipeline.jobs import RGB, GenerationSpec

from .placeholder import NEUTRAL_BACKGROUND, muted_colours, spec_digest

BAND = 0.3  # of the shorter side: the depth of the colour band


def render_placeholder_svg(spec: GenerationSpec) -> bytes:
    """`spec` as an SVG document whose viewBox is spec.width x spec.height."""
    width, height = spec.width, spec.height
    if width <= 0 or height <= 0:
        raise ValueError(f"a placeholder needs a positive size, not {width}x{height}")
    rng = random.Random(int.from_bytes(spec_digest(spec), "big"))
    background = spec.background if spec.background is not None else NEUTRAL_BACKGROUND
    colours = spec.palette or muted_colours(spec.prompt)
    unit = min(width, height)
    depth = round(unit * BAND)
    shapes = [f'<rect width="{width}" height="{height}" fill="{_hex(background)}"/>']
    vertical = rng.random() < 0.5  # stripes down the left edge, or along the top
    step = (height if vertical else width) / len(colours)
    for i, colour in enumerate(colours):
        start, end = round(i * step), round((i + 1) * step)
        box = (0, start, depth, end - start) if vertical else (start, 0, end - start, depth)
        shapes.append(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'.format(*box, _hex(colour))
        )
    radius = round(unit * rng.uniform(0.16, 0.24))
    cx = round((width + (depth if vertical else 0)) / 2)
    cy = round((height + (0 if vertical else depth)) / 2)
    accent = colours[rng.randrange(len(colours))]
    shapes.append(f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{_hex(accent)}"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">' + "".join(shapes) + "</svg>\n"
    ).encode("ascii")


def _hex(colour: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*colour)

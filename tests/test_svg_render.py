"""The renderer: exact sizes, crisp edges, true colours, framing for another aspect, and
nothing fetched while rendering."""

from __future__ import annotations

import io
import re
import time

import pytest
from lxml import etree
from PIL import Image

from pipeline.jobs import Fit
from pipeline.svg_render import crop_viewbox, draw, frame, render
from pipeline.svg_safe import SvgRejected
from tests.test_svg_safe import loopback  # noqa: F401  (a loopback server that records requests)

SVG = "http://www.w3.org/2000/svg"
GREEN = (0x1F, 0x6F, 0x5C)
# A 100-unit square with a green square on the middle half: edges at 25% and 75%.
SQUARE = (
    f'<svg xmlns="{SVG}" viewBox="0 0 100 100">'
    '<rect x="25" y="25" width="50" height="50" fill="#1F6F5C"/></svg>'
).encode()
# 200 x 100 units: left half red, right half blue.
WIDE = (
    f'<svg xmlns="{SVG}" width="200" height="100">'
    '<rect width="100" height="100" fill="#ff0000"/>'
    '<rect x="100" width="100" height="100" fill="#0000ff"/></svg>'
).encode()
TRANSPARENT = (0, 0, 0, 0)


def _viewbox(svg: bytes) -> list[float]:
    return [float(v) for v in etree.fromstring(svg).get("viewBox").split()]


@pytest.mark.parametrize("side", [16, 2048])
def test_renders_have_the_exact_size_and_crisp_edges(side: int) -> None:
    image = render(SQUARE, side, side)
    assert image.size == (side, side) and image.mode == "RGBA"
    inner, outer = side // 4, side // 4 - 1  # the rect's first pixel, and the one before
    for a, b in [(inner, inner), (side - inner - 1, side - inner - 1), (inner, side // 2)]:
        assert image.getpixel((a, b)) == (*GREEN, 255)
    for a, b in [(outer, outer), (side - inner, side - inner), (outer, side // 2)]:
        assert image.getpixel((a, b)) == TRANSPARENT


def test_a_16px_render_is_drawn_at_16px_not_downscaled() -> None:
    # A 1-unit line on a 16-unit grid is one crisp pixel wide at 16x16; a big render
    # scaled down would smear it over its neighbours.
    grid = f'<svg xmlns="{SVG}" viewBox="0 0 16 16"><rect x="7" width="1" height="16"/></svg>'
    image = render(grid.encode(), 16, 16)
    row = [image.getpixel((x, 8))[3] for x in range(16)]
    assert row == [0] * 7 + [255] + [0] * 8


def test_colours_are_exact() -> None:
    image = render(WIDE, 20, 10)
    assert image.getpixel((2, 5)) == (255, 0, 0, 255)
    assert image.getpixel((17, 5)) == (0, 0, 255, 255)


def test_cover_crops_the_viewbox_to_the_output_aspect() -> None:
    assert _viewbox(crop_viewbox(WIDE, 100, 100)) == [50, 0, 100, 100]
    assert _viewbox(crop_viewbox(SQUARE, 200, 100)) == [0, 25, 100, 50]
    image = render(WIDE, 10, 10)  # the middle: left half red, right half blue
    assert image.getpixel((2, 5)) == (255, 0, 0, 255)
    assert image.getpixel((7, 5)) == (0, 0, 255, 255)


def test_crop_viewbox_sets_the_pixel_size_and_keeps_the_drawing() -> None:
    out = etree.fromstring(crop_viewbox(SQUARE, 300, 100))
    assert (out.get("width"), out.get("height")) == ("300", "100")
    assert out.find(f"{{{SVG}}}rect").attrib == etree.fromstring(SQUARE)[0].attrib


def test_contain_extends_the_viewbox_and_shows_the_whole_drawing() -> None:
    assert _viewbox(crop_viewbox(SQUARE, 200, 100, fit=Fit("contain"))) == [-50, 0, 200, 100]
    image = render(WIDE, 20, 20, fit=Fit("contain"))
    assert image.getpixel((10, 2)) == TRANSPARENT  # above the drawing
    assert image.getpixel((1, 10)) == (255, 0, 0, 255)  # both halves shown whole
    assert image.getpixel((18, 10)) == (0, 0, 255, 255)


def test_contain_keeps_hidden_what_the_viewbox_hid() -> None:
    overflowing = (
        f'<svg xmlns="{SVG}" viewBox="0 0 10 10"><rect width="10" height="10" fill="#00f"/>'
        '<rect x="-40" width="40" height="10" fill="#f00"/></svg>'
    ).encode()
    image = render(overflowing, 30, 10, fit=Fit("contain"))
    assert image.getpixel((2, 5)) == TRANSPARENT  # the red rect left of the viewBox
    assert image.getpixel((15, 5)) == (0, 0, 255, 255)


def test_contain_pads_with_the_pad_colour_in_raster_and_svg() -> None:
    fit = Fit("contain", pad=(250, 240, 230))
    image = render(SQUARE, 200, 100, fit=fit)
    assert image.getpixel((10, 50)) == (250, 240, 230, 255)  # pad
    assert image.getpixel((100, 50)) == (*GREEN, 255)  # drawing
    svg = crop_viewbox(SQUARE, 200, 100, fit=fit)
    assert re.search(rb'<rect x="-50" y="0" width="200" height="100" style="fill:#faf0e6', svg)


def test_safe_zone_shrinks_the_drawing_to_its_fraction() -> None:
    full = f'<svg xmlns="{SVG}" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>'
    assert frame((0, 0, 10, 10), 100, 100, Fit("contain", safe_zone=0.8)) == (
        pytest.approx(-1.25),
        pytest.approx(-1.25),
        pytest.approx(12.5),
        pytest.approx(12.5),
    )
    image = render(full.encode(), 100, 100, fit=Fit("contain", safe_zone=0.8))
    column = [image.getpixel((50, y))[3] for y in range(100)]
    assert column == [0] * 10 + [255] * 80 + [0] * 10


def test_renders_are_deterministic() -> None:
    assert render(SQUARE, 64, 48).tobytes() == render(SQUARE, 64, 48).tobytes()
    assert crop_viewbox(SQUARE, 64, 48) == crop_viewbox(SQUARE, 64, 48)


def test_what_is_not_an_svg_is_refused_before_rendering() -> None:
    with pytest.raises(SvgRejected):
        render(b"\x89PNG\r\n\x1a\n", 16, 16)
    with pytest.raises(ValueError):
        render(SQUARE, 0, 16)


def _hostile(base: str) -> bytes:
    return (
        f'<svg xmlns="{SVG}" xmlns:xlink="http://www.w3.org/1999/xlink" width="16" '
        f'height="16"><style>@import url({base}/a.css); rect{{fill:url({base}/p#x)}}</style>'
        f'<image href="{base}/href.png" width="16" height="16"/>'
        f'<image xlink:href="{base}/xlink.png" width="16" height="16"/>'
        f'<use href="{base}/use.svg#a"/><filter id="f"><feImage href="{base}/fe.png"/>'
        f'</filter><rect width="8" height="8" filter="url(#f)" '
        f'style="fill:url({base}/style#p)"/></svg>'
    ).encode()


def test_rendering_fetches_nothing(loopback) -> None:  # noqa: F811
    base, seen = loopback
    render(_hostile(base), 16, 16)
    assert seen == []


def test_resvg_itself_fetches_nothing_even_unsanitised(loopback) -> None:  # noqa: F811
    # Defence in depth: were a reference to survive the sanitiser, resvg would not fetch it.
    base, seen = loopback
    with Image.open(io.BytesIO(draw(_hostile(base)))) as image:
        assert image.size == (16, 16)
    assert seen == []


CIRCLE = '<circle r="1"/>'


def test_render_bombs_lose_their_multipliers_and_render_at_once() -> None:
    # Each of these ran past 30 s in resvg at 512 px before sanitising.
    vertices = " ".join(f"L{i % 100} {i // 100}" for i in range(20_000))
    svg = (
        f'<svg xmlns="{SVG}" viewBox="0 0 100 200"><defs>'
        '<filter id="t"><feTurbulence baseFrequency="0.05" numOctaves="100000"/></filter>'
        '<filter id="m"><feMorphology operator="dilate" radius="100000"/></filter>'
        f'<marker id="k">{CIRCLE * 500}</marker></defs>'
        '<rect width="50" height="200" fill="#00ff00" filter="url(#t)"/>'
        '<rect x="50" width="50" height="200" fill="#0000ff" style="filter:url(#m)"/>'
        f'<path d="M0 0 {vertices}" marker-mid="url(#k)" fill="none" stroke="#000" '
        'stroke-width="0.01" stroke-dasharray="0.001"/></svg>'
    ).encode()
    started = time.perf_counter()
    image = render(svg, 256, 512)
    assert time.perf_counter() - started < 30  # generous: about 0.1 s here
    # the filtered elements are still drawn, without their filters
    assert image.getpixel((10, 500)) == (0, 255, 0, 255)
    assert image.getpixel((250, 500)) == (0, 0, 255, 255)


def _clipped_groups(count: int) -> bytes:
    """Sanitised-safe, and slow: each clipped group costs resvg a canvas-sized mask."""
    groups = '<g clip-path="url(#c)"><rect width="512" height="512"/></g>' * count
    return (
        f'<svg xmlns="{SVG}" viewBox="0 0 512 512"><clipPath id="c">'
        f'<rect width="100" height="100"/></clipPath>{groups}</svg>'
    ).encode()


def test_a_render_past_its_deadline_is_refused_and_the_next_one_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline import svg_worker

    monkeypatch.setattr(svg_worker, "RENDER_SECONDS", 1.0)
    started = time.perf_counter()
    with pytest.raises(SvgRejected, match="longer than 1 s"):
        render(_clipped_groups(1000), 2048, 2048)  # minutes, unbounded
    assert time.perf_counter() - started < 20
    assert render(SQUARE, 16, 16).getpixel((8, 8)) == (*GREEN, 255)


def test_a_render_that_runs_out_of_memory_is_refused_and_the_next_one_works() -> None:
    patterns = "".join(
        f'<pattern id="p{i + 1}" width="{2 ** (i + 1)}" height="{2 ** (i + 1)}" '
        f'patternUnits="userSpaceOnUse"><rect width="{2 ** (i + 1)}" '
        f'height="{2 ** (i + 1)}" fill="url(#p{i})"/></pattern>'
        for i in range(20)
    )
    bomb = (
        f'<svg xmlns="{SVG}" viewBox="0 0 512 512"><pattern id="p0" width="1" height="1" '
        'patternUnits="userSpaceOnUse"><rect width="0.5" height="0.5"/></pattern>'
        f'{patterns}<rect width="512" height="512" fill="url(#p20)"/></svg>'
    ).encode()  # resvg asks for 70 TB and aborts: in the worker, not in brandkit
    with pytest.raises(SvgRejected, match="died"):
        render(bomb, 2048, 2048)
    assert render(SQUARE, 16, 16).getpixel((8, 8)) == (*GREEN, 255)


def test_the_worker_gets_no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import svg_worker

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    assert "OPENAI_API_KEY" not in svg_worker._environment()
    assert svg_worker._environment()["PYTHONPATH"]

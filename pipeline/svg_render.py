"""Render a vector master at an exact size, and frame its drawing for an output's aspect.

`crop_viewbox` returns the same drawing with its `viewBox` cropped to fill (cover) or
extended to hold it whole (contain, optionally shrunk to a safe zone and on a pad
colour) at the output's aspect, and its width and height set to the output's pixels;
`render` draws that with resvg into an RGBA Pillow image of exactly width x height
(`render_many`: many frames of one master in one call to resvg's worker). Both
sanitise first (svg_safe.py; idempotent; the last few masters' results are kept), so
whatever reaches resvg holds no reference outside the document: rendering never fetches
or reads anything.

The binding is `resvg` 0.2.0 (PyO3 over the Rust crate), chosen by measuring it against
`resvg-py` 0.5.0 and cairosvg 2.9.1, rendering a 600-path 2048-unit drawing and decoding
it into Pillow (min of 3, on 2 loaded shared cores; figures in the commit 1cf3838):
16 px 22 / 38 / 939 ms, 512 px 444 / 649 / 943 ms, 2048 px 2,635 / 4,178 / 3,078 ms
(resvg / resvg-py / cairosvg). resvg and resvg-py give identical pixels (the same Rust
core; resvg-py is the drop-in fallback); cairosvg differs by 2.5/255 on average. None
fetched anything from a loopback server. resvg runs in a worker process with a deadline
and a memory cap (svg_worker.py), with no font loaded (resvg-py loads the system's
unless told not to): text that is not paths renders as nothing, the same on every
machine.
"""

from __future__ import annotations

import io
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from .jobs import COVER, Fit
from .svg_safe import SVG_NS, SvgRejected, parse_length, parse_viewbox, sanitise

if TYPE_CHECKING:
    from PIL import Image

ViewBox = tuple[float, float, float, float]
Frame = tuple[int, int, Fit]  # an output's width, height and fit
DEFAULT_VIEWBOX: ViewBox = (0.0, 0.0, 100.0, 100.0)  # an SVG with no size: resvg's 100x100
MAX_RENDER_SIDE = 8192
CLIP_ID = "brandkit-drawing"


def render(svg: bytes, width: int, height: int, *, fit: Fit = COVER) -> Image.Image:
    """The drawing of `svg` framed by `fit`, rendered to RGBA at exactly width x height.

    Raises SvgRejected if `svg` is not a safe SVG or resvg cannot draw it, ValueError
    for a size outside 1..MAX_RENDER_SIDE.
    """
    return image_of(draw(framed(svg, width, height, fit)), width, height, fit)


def render_many(svg: bytes, frames: list[Frame]) -> tuple[list[bytes], BaseException | None]:
    """resvg's PNGs of the leading `frames` (width, height, fit) of `svg` that could be
    drawn, in order, all in one call to the worker, and why the next could not be (None:
    every frame was drawn). `image_of` makes each what `render` gives."""
    docs: list[bytes] = []
    failed: BaseException | None = None
    for width, height, fit in frames:
        try:
            docs.append(framed(svg, width, height, fit))
        except Exception as exc:  # raised where that frame is asked for, as render would
            failed = exc
            break
    drawn, refused = draw_many(docs)
    return drawn, refused if refused is not None else failed


def framed(svg: bytes, width: int, height: int, fit: Fit = COVER) -> bytes:
    """The document resvg draws for a width x height output of `svg`: framed, unpadded."""
    if not (0 < width <= MAX_RENDER_SIDE and 0 < height <= MAX_RENDER_SIDE):
        raise ValueError(f"render size must be 1..{MAX_RENDER_SIDE} px, got {width}x{height}")
    return crop_viewbox(svg, width, height, fit=replace(fit, pad=None))


def image_of(png: bytes, width: int, height: int, fit: Fit = COVER) -> Image.Image:
    """resvg's PNG of a width x height frame as RGBA, on `fit.pad` if it has one."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGBA")
    if image.size != (width, height):  # width/height are integers: never seen
        raise SvgRejected(f"resvg rendered {image.size}, not {width}x{height}")
    if fit.pad is None:
        return image
    padded = Image.new("RGBA", image.size, (*fit.pad, 255))  # no stylesheet can restyle it
    padded.alpha_composite(image)
    return padded


@lru_cache(maxsize=4)
def sanitised(svg: bytes) -> bytes:
    """`sanitise(svg)`, remembered for the last few masters: a job's outputs (an ico's
    frames, its sizes and formats) are all cut from one master, and sanitising a 260 KB
    drawing (20 ms) took longer than rendering it at 32 px (17 ms)."""
    return sanitise(svg)


def draw(svg: bytes) -> bytes:
    """resvg's PNG of `svg` at its own width x height, no sanitising, no framing: in a
    worker process with a deadline and a memory cap (svg_worker.py)."""
    from .svg_worker import draw as draw_isolated

    return draw_isolated(svg)


def draw_many(svgs: list[bytes]) -> tuple[list[bytes], BaseException | None]:
    """`draw` of each of `svgs` in one call to the worker, up to the first refused: the
    PNGs drawn, and that refusal (None: all were drawn)."""
    from .svg_worker import draw_many as draw_isolated

    return draw_isolated(svgs)


def crop_viewbox(svg: bytes, width: int, height: int, *, fit: Fit = COVER) -> bytes:
    """The sanitised `svg` framed for a width x height output: its viewBox cropped
    (cover) or extended (contain: the drawing whole, shrunk to `fit.safe_zone`, clipped
    to its own viewBox, on a `fit.pad` rectangle) to that aspect, centred, with
    width/height set in pixels."""
    from lxml import etree

    if width <= 0 or height <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    root = etree.fromstring(sanitised(svg))
    drawing = drawing_box(root)
    box = frame(drawing, width, height, fit)
    if fit.mode == "contain":
        _clip_to(root, drawing)
    if fit.pad is not None:
        root.insert(0, _rect(box, "fill:#{:02x}{:02x}{:02x};stroke:none".format(*fit.pad)))
    root.set("viewBox", " ".join(_number(v) for v in box))
    root.set("width", str(width))
    root.set("height", str(height))
    root.attrib.pop("preserveAspectRatio", None)
    return etree.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _clip_to(root, box: ViewBox) -> None:
    """Wrap the drawing in a clip to `box`: what the old viewBox hid stays hidden."""
    from lxml import etree

    clip = etree.Element(f"{{{SVG_NS}}}clipPath", id=CLIP_ID)
    clip.append(_rect(box))
    group = etree.Element(f"{{{SVG_NS}}}g", {"clip-path": f"url(#{CLIP_ID})"})
    group.text, root.text = root.text, None
    for child in list(root):
        group.append(child)
    root.append(clip)
    root.append(group)


def _rect(box: ViewBox, style: str | None = None):  # -> lxml.etree._Element
    from lxml import etree

    rect = etree.Element(f"{{{SVG_NS}}}rect")
    for name, value in zip(("x", "y", "width", "height"), box, strict=True):
        rect.set(name, _number(value))
    if style is not None:
        rect.set("style", style)
    return rect


def drawing_box(root) -> ViewBox:
    """The drawing's extent in user units: its viewBox, else 0 0 width height (px)."""
    if root.get("viewBox") is not None:
        return parse_viewbox(root.get("viewBox"))
    size = _pixel_size(root)
    return DEFAULT_VIEWBOX if size is None else (0.0, 0.0, *size)


def _pixel_size(root) -> tuple[float, float] | None:
    """The root's width and height, when both are given in px (or unitless)."""
    sides = []
    for name in ("width", "height"):
        value = root.get(name)
        if value is None:
            return None
        number, unit = parse_length(value, name)
        if unit not in ("", "px"):
            return None
        sides.append(number)
    return sides[0], sides[1]


def frame(box: ViewBox, width: int, height: int, fit: Fit = COVER) -> ViewBox:
    """`box` cropped (cover) or extended (contain) to width:height, centred; contain
    with a safe zone s also grows it by 1/s, so the drawing fills s of the output."""
    x, y, w, h = box
    target = width / height
    if fit.mode == "contain":
        scale = 1.0 / fit.safe_zone if fit.safe_zone else 1.0
        new_w, new_h = w * scale, h * scale
        if new_w / new_h < target:
            new_w = new_h * target
        else:
            new_h = new_w / target
    elif w / h > target:  # cover, drawing wider: trim left and right
        new_w, new_h = h * target, h
    else:
        new_w, new_h = w, w / target
    return (x + (w - new_w) / 2, y + (h - new_h) / 2, new_w, new_h)


def _number(value: float) -> str:
    """A viewBox number: up to 10 decimals, no trailing zeros."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-", "-0") else text


def intrinsic_size(svg: bytes) -> tuple[float, float] | None:
    """The sanitised `svg` root's width and height in px, when both are given in px."""
    from lxml import etree

    return _pixel_size(etree.fromstring(sanitised(svg)))

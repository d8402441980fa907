"""Derive stage: cut exact output sizes and formats from one master, raster or vector.

From a raster master, `derive` crops it to the target aspect (cover: centred, no
letterboxing) or fits it whole (contain: centred on a pad or transparency, shrunk to a
safe zone), resizes it with Lanczos to exactly the target size and encodes it with fixed
settings and no metadata, so identical inputs always give byte-identical outputs. From a
vector master (an SVG, sniffed), every raster output is rendered by resvg at its exact
size, never resized from a raster; an `svg` output is the sanitised master, or for
another size the same drawing with its viewBox cropped (svg_render.crop_viewbox). An
ico holds every size of `ico_sizes`, each cut or rendered at that size. derive_fit.py
holds the fitting.

`derive` takes the master's bytes, or the master opened once for all its outputs
(`open_master`, as cutpool.py does): then a raster master is decoded once, not once per
output, and every frame its outputs need from a vector master is rendered in one call to
resvg's worker process, not one call each. The bytes are the same either way.

Pillow's decompression-bomb protection stays on, with its limit set by images.py from
the largest native size: masters are expected to be at most 3072x3072 pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from .derive_fit import check_fit, fill_box, frame_raster, frame_vector
from .images import limit_pillow, sniff_format
from .jobs import COVER, Fit, OutputTarget

limit_pillow()

__all__ = ["FORMATS", "Master", "derive", "fill_box", "open_master"]

FORMATS = ("png", "jpg", "webp", "ico", "svg")
ICO_MIN_SIZE = 16
ICO_MAX_SIZE = 256
JPEG_QUALITY = 92
WEBP_QUALITY = 90
WEBP_METHOD = 4
PNG_COMPRESS_LEVEL = 6
JPEG_BACKGROUND = (255, 255, 255)


def derive(
    master: bytes | Master,
    width: int,
    height: int,
    fmt: str,
    *,
    fit: Fit = COVER,
    ico_sizes: tuple[int, ...] = (),
    text: str | None = None,
) -> bytes:
    """`master` (raster or SVG) fitted to exactly width x height and encoded as `fmt`.

    A text output (`text` set: site.webmanifest, head.html) is its text, whatever the
    master. An ico holds every size in `ico_sizes` (or just `width`), the largest being
    `width`.

    Raises ValueError for an unsupported format or fit, non-positive sizes, an ico that
    is not square and between 16 and 256 pixels, or svg from a raster master; SvgRejected
    (a ValueError) for a vector master that is not a safe SVG. Undecodable raster
    masters raise Pillow's `UnidentifiedImageError` (an `OSError`).
    """
    if text is not None:
        return text.encode()
    sizes = _check_target(width, height, fmt, ico_sizes)
    check_fit(fit)
    opened = master if isinstance(master, Master) else Master(master, _is_vector(master))
    if fmt == "svg":
        return _svg_output(opened.data, width, height, fit, opened.vector)
    return _encode([opened.frame(w, h, fit) for w, h in sizes], fmt)


Frame = tuple[int, int, Fit]  # a frame's width, height and fit


@dataclass
class Master:
    """A master opened once for all the outputs cut from it (`open_master`): a raster
    master is decoded on first use; a vector master's `wanted` frames are all rendered
    in one call to resvg's worker on first use, and any other frame on its own."""

    data: bytes
    vector: bool
    wanted: list[Frame] = field(default_factory=list)
    _image: Image.Image | None = None
    _drawn: dict[Frame, bytes] | None = None  # resvg's PNG of each wanted frame drawn
    _refused: tuple[Frame, BaseException] | None = None  # the wanted frame that failed

    def frame(self, width: int, height: int, fit: Fit) -> Image.Image:
        """The pixels of one frame of an output, before encoding."""
        if not self.vector:
            if self._image is None:
                self._image = _open_master(self.data)
            return frame_raster(self._image, width, height, fit)
        key = (width, height, fit)
        if self._drawn is None and key in self.wanted:
            self._draw_wanted()
        if self._refused is not None and self._refused[0] == key:
            raise self._refused[1]
        png = (self._drawn or {}).get(key)
        return frame_vector(self.data, width, height, fit, png=png)

    def _draw_wanted(self) -> None:
        from .svg_render import render_many

        drawn, refused = render_many(self.data, self.wanted)
        self._drawn = dict(zip(self.wanted, drawn, strict=False))
        if refused is not None:
            self._refused = (self.wanted[len(drawn)], refused)


def open_master(data: bytes, targets: Sequence[OutputTarget] = ()) -> Master:
    """`data` opened for cutting `targets` from it with derive, in that order."""
    vector = _is_vector(data)
    return Master(data, vector, _frames_of(targets) if vector else [])


def _is_vector(data: bytes) -> bool:
    return sniff_format(data) == "svg"


def _frames_of(targets: Sequence[OutputTarget]) -> list[Frame]:
    """The frames derive renders for `targets` from a vector master, in order, once
    each, up to the first target it would refuse."""
    frames: list[Frame] = []
    for t in targets:
        if t.text is not None or t.format == "svg":
            continue
        try:
            sizes = _check_target(t.width, t.height, t.format, t.ico_sizes)
            check_fit(t.fit)
        except Exception:  # derive raises it when that target is cut
            break
        frames += [(w, h, t.fit) for w, h in sizes if (w, h, t.fit) not in frames]
    return frames


def _check_target(
    width: int, height: int, fmt: str, ico_sizes: tuple[int, ...]
) -> list[tuple[int, int]]:
    """The sizes of the frames to cut: one, or an ico's every size (largest last)."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; expected one of {FORMATS}")
    if width <= 0 or height <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    if fmt != "ico":
        return [(width, height)]
    sides = sorted(set(ico_sizes or (width,)))
    if width != height or sides[-1] != width:
        raise ValueError(
            f"ico outputs must be square, the largest of their sizes, got {width}x{height} "
            f"for sizes {sides}"
        )
    if not all(ICO_MIN_SIZE <= side <= ICO_MAX_SIZE for side in sides):
        raise ValueError(
            f"ico outputs must be square and {ICO_MIN_SIZE}..{ICO_MAX_SIZE} px, got sizes {sides}"
        )
    return [(side, side) for side in sides]


def _svg_output(master: bytes, width: int, height: int, fit: Fit, vector: bool) -> bytes:
    """The sanitised master at its own size, else its drawing framed for width x height."""
    from .svg_render import crop_viewbox, intrinsic_size, sanitised

    if not vector:
        raise ValueError("an svg output needs a vector master (an SVG), not a raster image")
    if fit == COVER and intrinsic_size(master) == (width, height):
        return sanitised(master)
    return crop_viewbox(master, width, height, fit=fit)


def _open_master(master: bytes) -> Image.Image:
    """Decode the master upright, as RGBA when it has transparency, else RGB."""
    with Image.open(io.BytesIO(master)) as opened:
        image = ImageOps.exif_transpose(opened)
        mode = "RGBA" if _has_alpha(image) else "RGB"
        return image.convert(mode)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _encode(frames: list[Image.Image], fmt: str) -> bytes:
    """One frame encoded as `fmt`, or an ico of every frame (smallest first)."""
    image = frames[-1]
    buffer = io.BytesIO()
    if fmt == "jpg":
        _flatten(image).save(
            buffer, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False
        )
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:  # Pillow writes each size from the frame of exactly that size, not a resize
        sizes = [frame.size for frame in frames]
        image.save(buffer, "ICO", sizes=sizes, append_images=frames[:-1])
    return buffer.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    flat = Image.new("RGB", image.size, JPEG_BACKGROUND)
    flat.paste(image, mask=image.getchannel("A"))
    return flat

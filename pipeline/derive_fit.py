"""How a master fills an output of another aspect (DESIGN: "Vector assets, icon sets and
fit"): `cover` crops to fill, `contain` fits it whole inside, centred, shrunk to a safe
zone, on a pad colour or transparent.

`frame` returns the pixels of one output, before encoding: from a raster master by
Pillow (Lanczos), from a vector master by resvg at the exact output size (svg_render.py),
never resized from a raster. A pad makes the output opaque (RGB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .jobs import COVER, Fit

if TYPE_CHECKING:
    from PIL import Image

FIT_MODES = ("cover", "contain")
CropBox = tuple[float, float, float, float]


def check_fit(fit: Fit) -> None:
    """ValueError unless `fit` is one derive can apply."""
    if fit.mode not in FIT_MODES:
        raise ValueError(f"unknown fit {fit.mode!r}; expected one of {FIT_MODES}")
    if fit.safe_zone is not None:
        if fit.mode != "contain":
            raise ValueError("safe_zone applies to fit: contain only")
        if not 0 < fit.safe_zone <= 1:
            raise ValueError(f"safe_zone must be in (0, 1], got {fit.safe_zone}")


def frame_vector(
    svg: bytes, width: int, height: int, fit: Fit = COVER, *, png: bytes | None = None
) -> Image.Image:
    """The vector master rendered by resvg at exactly width x height (`png`: resvg's
    render of that frame, already drawn by svg_render.render_many)."""
    from .svg_render import image_of, render

    if png is None:
        image = render(svg, width, height, fit=fit)
    else:
        image = image_of(png, width, height, fit)
    return image.convert("RGB") if fit.pad is not None else image


def frame_raster(image: Image.Image, width: int, height: int, fit: Fit = COVER) -> Image.Image:
    """The decoded raster master cropped (cover) or fitted (contain) to width x height."""
    from PIL import Image

    if fit.mode == "contain":
        fitted = _contain(image, width, height, fit.safe_zone or 1.0)
    else:
        box = fill_box(image.size, (width, height))
        fitted = image.resize((width, height), Image.Resampling.LANCZOS, box=box)
    fitted.info = {}  # never carry the master's metadata (exif, icc, text, dpi)
    return fitted if fit.pad is None else _on_pad(fitted, fit.pad)


def fill_box(source: tuple[int, int], target: tuple[int, int]) -> CropBox:
    """The centred region of `source` with the aspect ratio of `target`."""
    src_w, src_h = source
    dst_w, dst_h = target
    if src_w * dst_h > dst_w * src_h:  # source is wider: trim left and right
        crop_w = src_h * dst_w / dst_h
        left = (src_w - crop_w) / 2
        return (left, 0.0, left + crop_w, float(src_h))
    crop_h = src_w * dst_h / dst_w  # source is taller (or equal): trim top and bottom
    top = (src_h - crop_h) / 2
    return (0.0, top, float(src_w), top + crop_h)


def contain_size(source: tuple[int, int], target: tuple[int, int], zone: float) -> tuple[int, int]:
    """The size of the whole `source` scaled to fit `zone` of `target` (at least 1 px)."""
    scale = min(target[0] * zone / source[0], target[1] * zone / source[1])
    return max(1, round(source[0] * scale)), max(1, round(source[1] * scale))


def _contain(image: Image.Image, width: int, height: int, zone: float) -> Image.Image:
    """The whole image, resized to fit `zone` of the size, centred on transparency."""
    from PIL import Image

    size = contain_size(image.size, (width, height), zone)
    drawing = image.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(drawing, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def _on_pad(image: Image.Image, pad: tuple[int, int, int]) -> Image.Image:
    """`image` composited onto an opaque pad colour: RGB."""
    from PIL import Image

    if image.mode != "RGBA":
        return image.convert("RGB")
    padded = Image.new("RGBA", image.size, (*pad, 255))
    padded.alpha_composite(image)
    return padded.convert("RGB")

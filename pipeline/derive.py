"""Derive stage: cut exact output sizes and formats from one master image.

`derive` crops the master to the target aspect (centred, no letterboxing), resizes it
with Lanczos to exactly the target size and encodes it with fixed settings and no
metadata, so identical inputs always give byte-identical outputs.

Pillow's decompression-bomb protection stays on, with its limit set by images.py from
the largest native size: masters are expected to be at most 3072x3072 pixels.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from .images import limit_pillow
from .jobs import COVER, Fit

limit_pillow()

FORMATS = ("png", "jpg", "webp", "ico")
ICO_MIN_SIZE = 16
ICO_MAX_SIZE = 256
JPEG_QUALITY = 92
WEBP_QUALITY = 90
WEBP_METHOD = 4
PNG_COMPRESS_LEVEL = 6
JPEG_BACKGROUND = (255, 255, 255)

CropBox = tuple[float, float, float, float]


def derive(
    master: bytes,
    width: int,
    height: int,
    fmt: str,
    *,
    fit: Fit = COVER,
    ico_sizes: tuple[int, ...] = (),
    text: str | None = None,
) -> bytes:
    """Crop `master` to fill width x height, resize it to exactly that, encode as `fmt`.

    A text output (`text` set: site.webmanifest, head.html) is its text, whatever the
    master. `fit` other than cover and multi-size icos are issue 14's, not yet built.

    Raises ValueError for an unsupported format, non-positive sizes, or an ico that
    is not square and between 16 and 256 pixels. Undecodable masters raise Pillow's
    `UnidentifiedImageError` (an `OSError`).
    """
    if text is not None:
        return text.encode()
    if fit != COVER or len(ico_sizes) > 1:
        raise ValueError("fit and multi-size ico are not supported yet")
    _check_target(width, height, fmt)
    image = _open_master(master)
    fitted = image.resize(
        (width, height), Image.Resampling.LANCZOS, box=fill_box(image.size, (width, height))
    )
    fitted.info = {}  # never carry the master's metadata (exif, icc, text, dpi)
    return _encode(fitted, fmt)


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


def _check_target(width: int, height: int, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; expected one of {FORMATS}")
    if width <= 0 or height <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    if fmt == "ico" and (width != height or not ICO_MIN_SIZE <= width <= ICO_MAX_SIZE):
        raise ValueError(
            f"ico outputs must be square and {ICO_MIN_SIZE}..{ICO_MAX_SIZE} px, "
            f"got {width}x{height}"
        )


def _open_master(master: bytes) -> Image.Image:
    """Decode the master upright, as RGBA when it has transparency, else RGB."""
    with Image.open(io.BytesIO(master)) as opened:
        image = ImageOps.exif_transpose(opened)
        mode = "RGBA" if _has_alpha(image) else "RGB"
        return image.convert(mode)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpg":
        _flatten(image).save(
            buffer, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False
        )
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        image.save(buffer, "ICO", sizes=[image.size])
    return buffer.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    flat = Image.new("RGB", image.size, JPEG_BACKGROUND)
    flat.paste(image, mask=image.getchannel("A"))
    return flat

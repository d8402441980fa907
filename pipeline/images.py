"""What a provider's image must be before it is cached: checked once, fully decoded.

A master is cached only if it is a PNG, JPEG or WEBP that Pillow decodes whole (a valid
header and trailer around garbage is not enough), no larger than any model makes
(Pillow's decompression-bomb limit is set here, from the largest native size), and of
the size that was asked for: each side within 2% (and at least 8 pixels) of the
request, so a provider's rounding passes and another aspect ratio or scale does not.
Anything else is the provider's error; it is never cropped or scaled into an output.
A vector model's master is an SVG document instead (check_vector_master): sanitised
(svg_safe.sanitise) before it is cached, its viewBox of the aspect ratio asked for; a
raster image, or anything the sanitiser refuses, is the provider's error.

`sniff_format`, `check_image` and `image_size` read a file's magic bytes, trailer or
header, without decoding pixels: providers check downloads with them, the executor and
derive.py the masters. Pillow is imported only when something is decoded.

Decoding runs off the event loop, one image at a time, on one thread of its own: a
decoded 2K master is 12-19 MB, and decoded on the executor's several worker threads,
each thread's malloc arena kept its own (the bench's peak RSS for 200 masters of 6 MB
went from 63 MB to 213 MB; on one thread, 70 MB). One thread decodes a 2K
master in 0.1-0.3 s, a 1K one in 10-20 ms: faster than providers deliver them.
"""

from __future__ import annotations

import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from .errors import ProviderError
from .models import SIZES_2K
from .svg_safe import is_svg

# Twice the largest native size (3072x1536 in the 2K table): room for a provider's
# rounding, far below what a decompression bomb claims. Pillow warns above this and
# refuses above twice it, wherever brandkit decodes (see limit_pillow).
MAX_PIXELS = 2 * max(w * h for w, h in SIZES_2K.values())

SIZE_TOLERANCE = 0.02  # of each side
SIZE_TOLERANCE_PX = 8  # at least
MASTER_FORMATS = ("png", "jpg", "webp")
_PILLOW = ("PNG", "JPEG", "WEBP")  # the only decoders a provider's bytes are tried with
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_ICO_MAGIC = b"\x00\x00\x01\x00"


def limit_pillow() -> None:
    """Set Pillow's decompression-bomb limit; called before anything is decoded."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def sniff_format(data: bytes) -> str | None:
    """The format named by the leading magic bytes ("png", "jpg", "webp", "ico"), or "svg"
    for XML text with an `<svg` tag in its first 4 KB (a sniff: svg_safe.py checks), else
    None."""
    head = bytes(data[:12])
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(_ICO_MAGIC):
        return "ico"
    if is_svg(data):
        return "svg"
    return None


def check_image(head: bytes, tail: bytes, size: int) -> str | None:
    """The format of a whole PNG/JPEG/WEBP file, or None if it is not one (or cut short)."""
    fmt = sniff_format(head)
    if fmt == "png" and tail.endswith(b"IEND\xaeB`\x82"):
        return fmt
    if fmt == "jpg" and tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return fmt
    if fmt == "webp" and int.from_bytes(head[4:8], "little") + 8 == size:
        return fmt
    return None


def image_size(data: bytes | Path) -> tuple[int, int]:
    """(width, height) of an encoded image (bytes or a file), read from its header."""
    import io

    from PIL import Image

    limit_pillow()
    with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as image:
        return image.size


def check_master(
    provider: str, source: bytes | Path, expected: tuple[int, int] | None, *, decode: bool = True
) -> tuple[str, int, int]:
    """(format, width, height) of a provider's image, decoded whole, or ProviderError.
    `expected`: the (width, height) the job asked for, when known. `decode=False`, for
    an image brandkit drew itself (the local provider): its header only."""
    fmt = sniff_format(source[:16] if isinstance(source, bytes) else _head(source))
    if fmt not in MASTER_FORMATS:
        raise ProviderError(provider, "the response is not an image (bad magic bytes)")
    width, height = _decoder().submit(_decode, provider, source, load=decode).result()
    if expected is not None and not close_enough((width, height), expected):
        raise ProviderError(
            provider,
            f"the image is {width}x{height}, but {expected[0]}x{expected[1]} was asked for "
            "(not cropped or scaled: the provider sent another size or aspect ratio)",
        )
    return fmt, width, height


_XML_STARTS = (b"<?xml", b"<svg", b"<!--", b"<!doctype svg")
_VIEWBOX = re.compile(rb"<svg\b[^>]*?\sviewBox\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)


def svg_head(head: bytes) -> bool:
    """Could this be the start of an SVG document (XML, or a bare <svg> element)? A first
    look only, so a download may go on: the store sanitises the whole document."""
    text = bytes(head).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").lower()
    return text.startswith(_XML_STARTS)


def check_vector_master(
    provider: str, source: bytes | Path, expected: tuple[int, int] | None
) -> tuple[bytes, int, int]:
    """(the sanitised SVG, width, height) of a vector model's answer, or ProviderError:
    anything that is not an SVG document the sanitiser accepts, or whose viewBox has
    another aspect ratio than the size asked for. The size recorded is the one asked for
    (the model's native size: what a "W:H" raster output is rendered at)."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    if not svg_head(data[:64]):
        kind = sniff_format(data[:16])
        what = f"a {kind.upper()} image" if kind else "something else"
        raise ProviderError(provider, f"a vector model answered {what}, not an SVG document")
    from .svg_safe import SvgRejected, sanitise

    try:
        clean = sanitise(bytes(data))
    except SvgRejected as exc:
        raise ProviderError(provider, f"the SVG was refused by the sanitiser: {exc}") from None
    box = _viewbox(clean)
    if expected is None:
        if box is None:
            raise ProviderError(provider, "the SVG has no viewBox and no size was asked for")
        return clean, max(1, round(box[0])), max(1, round(box[1]))
    if box is not None and abs(box[0] / box[1] - expected[0] / expected[1]) > (
        SIZE_TOLERANCE * expected[0] / expected[1]
    ):
        raise ProviderError(
            provider,
            f"the SVG's viewBox is {box[0]:g}x{box[1]:g}, another aspect ratio than the "
            f"{expected[0]}x{expected[1]} asked for",
        )
    return clean, expected[0], expected[1]


def _viewbox(svg: bytes) -> tuple[float, float] | None:
    """The (width, height) of the root element's viewBox, if it has a sane one."""
    from .svg_safe import SvgRejected, parse_viewbox

    match = _VIEWBOX.search(svg[:65536])
    if match is None:
        return None
    try:
        _, _, width, height = parse_viewbox(match.group(1).decode("utf-8", "replace"))
    except SvgRejected:
        return None
    return width, height


def close_enough(size: tuple[int, int], expected: tuple[int, int]) -> bool:
    """Is each side within the tolerance of the size asked for?"""
    return all(
        abs(got - want) <= max(SIZE_TOLERANCE_PX, round(want * SIZE_TOLERANCE))
        for got, want in zip(size, expected, strict=True)
    )


@cache
def _decoder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="brandkit-decode")


def _decode(provider: str, source: bytes | Path, *, load: bool = True) -> tuple[int, int]:
    import io

    from PIL import Image

    limit_pillow()
    try:
        with warnings.catch_warnings():  # process-wide: only ever on the one decoder thread
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(
                source if isinstance(source, Path) else io.BytesIO(source), formats=_PILLOW
            )
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:  # whatever Image.MAX_IMAGE_PIXELS says now
                raise Image.DecompressionBombError(f"{width}x{height}")
            if load:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ProviderError(
            provider,
            f"the image claims more than {MAX_PIXELS} pixels, more than any model makes: "
            "refused without decoding it (a decompression bomb?)",
        ) from None
    except Exception as exc:  # whatever Pillow raises on bytes it cannot decode
        raise ProviderError(
            provider, f"the image cannot be decoded ({type(exc).__name__}: {exc})"
        ) from None
    return width, height


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(16)

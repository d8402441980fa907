"""Cheap, deterministic, real image files: a solid colour derived from the prompt.

A file made under an image fault is bad for good (every download, and inline): a `bomb`
(a PNG whose header claims `side`x`side` pixels, about 100 bytes on the wire), a
`wrong_size` image (another aspect ratio: the sides swapped, a square halved), or an
`undecodable` PNG (valid signature, header and IEND, garbage image data with valid CRCs),
and for vector models a `hostile_svg` (a script, event handlers, a foreignObject and
external references to the foreign origin's /beacon) or `not_svg` (a PNG, or garbage).
Vector models' files are SVG documents: the left half of the viewBox the prompt's colour,
the right half its complement.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image

# wire format name -> (Pillow format, file extension, content type)
FORMATS: dict[str, tuple[str, str, str]] = {
    "JPG": ("JPEG", "jpg", "image/jpeg"),
    "PNG": ("PNG", "png", "image/png"),
    "WEBP": ("WEBP", "webp", "image/webp"),
    "SVG": ("SVG", "svg", "image/svg+xml"),  # vector models: an SVG document, not Pillow's
}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 90},
    "PNG": {"compress_level": 1},
    "WEBP": {"lossless": True, "method": 0},  # lossy WEBP is ~10x slower to encode at 2K
}
_CACHE_SIZE = 128


def colour_for(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    provider: str
    prompt: str
    width: int
    height: int
    fmt: str  # key of FORMATS
    variant: tuple[str, int, int] | None = None  # an image fault: (kind, width, height)

    @property
    def name(self) -> str:
        return f"{self.file_id}.{self.extension}"

    @property
    def extension(self) -> str:
        return FORMATS[self.fmt][1]

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt][2]


class ImageStore:
    """Registry of served files; their bytes come from `encode` (cached per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, FileRecord] = {}
        # Where a hostile SVG's external references point (the foreign origin's /beacon/...)
        self.beacon = "http://127.0.0.1:9/beacon"

    def register(
        self,
        provider: str,
        prompt: str,
        width: int,
        height: int,
        fmt: str,
        file_id: str | None = None,
        variant: tuple[str, int, int] | None = None,
    ) -> FileRecord:
        if fmt not in FORMATS:
            raise ValueError(f"unknown image format {fmt!r}")
        record = FileRecord(
            file_id or str(uuid.uuid4()), provider, prompt, width, height, fmt, variant
        )
        with self._lock:
            self._files[record.name] = record
        return record

    def lookup(self, name: str) -> FileRecord | None:
        with self._lock:
            return self._files.get(name)

    def data(self, record: FileRecord) -> bytes:
        if record.variant is not None:
            kind, width, height = record.variant
            if kind == "hostile_svg":
                return hostile_svg(width, height, colour_for(record.prompt), self.beacon)
            if kind.startswith("not_svg"):
                return not_svg(kind.partition(":")[2], width, height, colour_for(record.prompt))
            if kind != "wrong_size":
                return bad_png(kind, width, height)
            record = FileRecord(record.file_id, "", record.prompt, width, height, record.fmt)
        return encode(record.width, record.height, colour_for(record.prompt), record.fmt)


@functools.lru_cache(maxsize=_CACHE_SIZE)  # pure; shared by every emulator of a test run
def encode(width: int, height: int, colour: tuple[int, int, int], fmt: str) -> bytes:
    if fmt == "SVG":
        return clean_svg(width, height, colour)
    pil_format = FORMATS[fmt][0]
    buffer = io.BytesIO()
    with Image.new("RGB", (width, height), colour) as image:
        image.save(buffer, pil_format, **_SAVE_OPTIONS[pil_format])
    return buffer.getvalue()


def bad_variant(kind: str, params: dict[str, Any], width: int, height: int) -> tuple[str, int, int]:
    """What an image fault makes of a (width x height) generation."""
    if kind == "bomb":
        side = int(params.get("side", 40000))
        return kind, side, side
    if kind == "not_svg":
        return f"not_svg:{params.get('body', 'png')}", width, height
    if kind == "wrong_size":
        other = (height, width) if width != height else (width, height // 2)
        return kind, int(params.get("width", other[0])), int(params.get("height", other[1]))
    return kind, width, height


def bad_png(kind: str, width: int, height: int) -> bytes:
    """A bomb (one row of data for a huge header) or an undecodable PNG of that size."""
    if kind == "bomb":
        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
        data = zlib.compress(b"\x00" * (width + 1))
    else:
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
        data = hashlib.sha256(b"garbage").digest() * 128  # not a zlib stream
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def _chunk(tag: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(tag + payload))
    return struct.pack(">I", len(payload)) + tag + payload + crc


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _halves(width: int, height: int, colour: tuple[int, int, int]) -> str:
    """The drawing: the left half `colour`, the right half its complement (a vertical edge
    at x = width/2, on a whole pixel at any even output width)."""
    other = (255 - colour[0], 255 - colour[1], 255 - colour[2])
    half = f"{width / 2:g}"
    return (
        f'<rect width="{width}" height="{height}" fill="{_hex(colour)}"/>'
        f'<rect x="{half}" width="{half}" height="{height}" fill="{_hex(other)}"/>'
    )


def clean_svg(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """What a vector model answers: an SVG document with a viewBox of the native size."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{_halves(width, height, colour)}</svg>\n'
    ).encode()


def hostile_svg(width: int, height: int, colour: tuple[int, int, int], beacon: str) -> bytes:
    """The same drawing, with everything a sanitiser must remove: a script, event
    handlers, a foreignObject, and external references (href, xlink:href, CSS url() and
    @import) to `beacon`, a loopback URL whose hits a test counts."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f"onload=\"fetch('{beacon}/onload')\">"
        f"<script>fetch('{beacon}/script')</script>"
        f"<style>@import url({beacon}/import.css); .x {{ fill: url({beacon}/paint) }}</style>"
        f"{_halves(width, height, colour)}"
        f'<rect class="x" width="1" height="1" onclick="fetch(\'{beacon}/click\')"/>'
        '<foreignObject width="10" height="10"><iframe xmlns="http://www.w3.org/1999/xhtml" '
        f'src="{beacon}/iframe"/></foreignObject>'
        f'<image href="{beacon}/image.png" width="10" height="10"/>'
        f'<use xlink:href="{beacon}/sprite.svg#icon"/>'
        "</svg>\n"
    ).encode()


def not_svg(body: str, width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """What a vector model must not answer: a PNG (`png`, the default) or `garbage`."""
    if body == "garbage":
        return hashlib.sha256(b"not an svg").digest() * 64
    return encode(width, height, colour, "PNG")

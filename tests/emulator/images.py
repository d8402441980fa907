"""Cheap, deterministic, real image files: a solid colour derived from the prompt.

A file made under an image fault is bad for good (every download, and inline): a `bomb`
(a PNG whose header claims `side`x`side` pixels, about 100 bytes on the wire), a
`wrong_size` image (another aspect ratio: the sides swapped, a square halved), or an
`undecodable` PNG (valid signature, header and IEND, garbage image data with valid CRCs).
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PIL import Image

# wire format name -> (Pillow format, file extension, content type)
FORMATS: dict[str, tuple[str, str, str]] = {
    "JPG": ("JPEG", "jpg", "image/jpeg"),
    "PNG": ("PNG", "png", "image/png"),
    "WEBP": ("WEBP", "webp", "image/webp"),
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
    """Registry of served files plus an LRU cache of encoded bytes per (w, h, colour, format)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, FileRecord] = {}
        self._cache: OrderedDict[tuple[int, int, tuple[int, int, int], str], bytes] = OrderedDict()

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
            if kind != "wrong_size":
                return bad_png(kind, width, height)
            record = FileRecord(record.file_id, "", record.prompt, width, height, record.fmt)
        key = (record.width, record.height, colour_for(record.prompt), record.fmt)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        encoded = encode(*key)
        with self._lock:
            self._cache[key] = encoded
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return encoded


def encode(width: int, height: int, colour: tuple[int, int, int], fmt: str) -> bytes:
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

"""Cheap, deterministic, real image files: a solid colour derived from the prompt."""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

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
    ) -> FileRecord:
        if fmt not in FORMATS:
            raise ValueError(f"unknown image format {fmt!r}")
        record = FileRecord(file_id or str(uuid.uuid4()), provider, prompt, width, height, fmt)
        with self._lock:
            self._files[record.name] = record
        return record

    def lookup(self, name: str) -> FileRecord | None:
        with self._lock:
            return self._files.get(name)

    def data(self, record: FileRecord) -> bytes:
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

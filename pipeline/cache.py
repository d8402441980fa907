"""cache: content-addressed blobs plus a diskcache index, under `.brandkit/`.

`blobs/ab/abcdef...` holds each distinct image once, named by its sha256, read-only and
written atomically; the diskcache index maps a content key (a generation) or a derived
key (master key + transform) to the blob's hash and what we know about it. A corrupt or
missing blob is dropped from the index and treated as a miss. Safe to delete whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .fsutil import atomic_write

CACHE_DIR = ".brandkit"


@dataclass(frozen=True, slots=True)
class Record:
    """What the cache knows of one image."""

    sha256: str
    size: int
    width: int
    height: int
    format: str
    provider: str = ""
    model: str = ""
    seed: int | None = None
    cost_usd: float | None = None
    credits: float | None = None
    spec: dict[str, Any] = field(default_factory=dict)


class Cache:
    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs"
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            import diskcache

            self.root.mkdir(parents=True, exist_ok=True)
            # Never evict: an index entry forgotten is an image paid for again (`brandkit
            # gc` decides what goes). No culling on each set, either: nothing expires.
            self._index = diskcache.Cache(
                str(self.root / "index"), eviction_policy="none", cull_limit=0
            )
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def get(self, key: str) -> Record | None:
        """The record for a key, if its blob is present and whole; else None (and forget it)."""
        if not self.root.exists():
            return None
        raw = self.index.get(key)
        if raw is None:
            return None
        try:
            record = Record(**raw)
            if self.blob_path(record.sha256).stat().st_size == record.size:
                return record
        except (TypeError, OSError):
            pass
        self.index.delete(key)
        return None

    def read(self, record: Record) -> bytes:
        data = self.blob_path(record.sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != record.sha256:
            raise OSError(f"cache blob {record.sha256[:12]} is corrupt")
        return data

    def put(self, key: str, data: bytes, **meta: Any) -> Record:
        """Store bytes under a key; the blob is written before the index points at it."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not (path.exists() and path.stat().st_size == len(data)):
            atomic_write(path, data, mode=0o444)
        record = Record(sha256=sha, size=len(data), **meta)
        self.index.set(key, asdict(record))
        return record

    def put_file(self, key: str, source: Path, *, sha256: str | None = None, **meta: Any) -> Record:
        """Move a finished temp file (on the same file system) into the cache; `sha256`,
        when the caller hashed the bytes as it wrote them, saves reading them again."""
        sha = sha256 or file_sha256(source)
        path = self.blob_path(sha)
        size = source.stat().st_size
        if path.exists() and path.stat().st_size == size:
            source.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(source, 0o444)
            os.replace(source, path)
        record = Record(sha256=sha, size=size, **meta)
        self.index.set(key, asdict(record))
        return record

    def alias(self, key: str, record: Record, **meta: Any) -> Record | None:
        """Index `key` to the blob of an existing record (an output that is the master
        itself) without reading or writing its bytes; None if that blob is not whole."""
        try:
            if self.blob_path(record.sha256).stat().st_size != record.size:
                return None
        except OSError:
            return None
        alias = Record(sha256=record.sha256, size=record.size, **meta)
        self.index.set(key, asdict(alias))
        return alias

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def adopt(self, key: str, source: Path, sha256: str, **meta: Any) -> Record | None:
        """Re-seed the cache from a published file whose hash is already known to match."""
        path = self.blob_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{sha256}.{os.getpid()}.tmp")
            try:
                shutil.copyfile(source, tmp)
                if file_sha256(tmp) != sha256:
                    return None
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        record = Record(sha256=sha256, size=path.stat().st_size, **meta)
        self.index.set(key, asdict(record))
        return record

    def all_keys(self) -> list[str]:
        """Every key, in one query: diskcache's iterkeys pages by 100 rows (222 queries
        at 22,000 keys, a tenth of a second of a plan). Read-only, straight from its
        SQLite table; brandkit's keys are all strings, which diskcache stores as is."""
        if not self.root.exists():
            return []
        import sqlite3

        from diskcache.core import DBNAME

        index = self.index  # opened (created if need be) by diskcache itself
        try:
            with contextlib.closing(
                sqlite3.connect(
                    f"{Path(index.directory, DBNAME).resolve().as_uri()}?mode=ro", uri=True
                )
            ) as db:
                return [key for (key,) in db.execute("SELECT key FROM Cache WHERE raw = 1")]
        except sqlite3.Error:
            return list(index.iterkeys())

    def forget(self, key: str) -> None:
        self.index.delete(key)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

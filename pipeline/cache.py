"""cache: content-addressed blobs plus a diskcache index, under `.brandkit/`.

`blobs/ab/abcdef...` holds each distinct image once, named by its sha256, read-only and
written atomically; the diskcache index maps a content key (a generation) or a derived
key (master key + transform) to the blob's hash and what we know about it. A corrupt or
missing blob is dropped from the index and treated as a miss. Safe to delete whole.

A blob is verified against its name (its sha256) before its bytes are used: a blob
swapped or edited in place, or one that is not a regular file (a symlink planted by a
restored cache), is a miss with a warning, and is removed so that nothing links it.
Hashes of unchanged blobs are remembered by their stat (fsutil.FileHashes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .fsutil import FileHashes, atomic_write

CACHE_DIR = ".brandkit"


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What is known of an image besides its bytes, as its maker hands it to the cache;
    the cache adds the blob's hash and size and stores the two as one flat Record."""

    width: int
    height: int
    format: str
    provider: str = ""
    model: str = ""
    seed: int | None = None
    cost_usd: float | None = None
    credits: float | None = None
    # The canonical JSON of the GenerationSpec it was made from (GenerationSpec.canonical()):
    # a serialisation edge, stored and compared as the mapping it is on disk.
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record(RecordMeta):
    """What the cache knows of one image: its metadata, and the blob's hash and size."""

    sha256: str
    size: int


def _record(sha256: str, size: int, meta: RecordMeta) -> Record:
    """The Record the index stores (flat, as asdict(Record): existing caches still read)."""
    return Record(
        sha256=sha256, size=size, **{f.name: getattr(meta, f.name) for f in fields(RecordMeta)}
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class Cache:
    def __init__(self, root: Path, warn: Callable[[str], None] | None = None):
        self.root = root
        self.blobs = root / "blobs"
        self._index: Any = None
        self.hashes = FileHashes(root / "hashes")
        self.warn = warn or _warn

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
        if self.root.is_dir():
            self.hashes.save()
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
        """The record for a key, if its blob is present and hashes to its name; else None
        (and forget it; a blob with the wrong bytes goes too, with a warning)."""
        if not self.root.exists():
            return None
        raw = self.index.get(key)
        if raw is None:
            return None
        try:
            record = Record(**raw)
            if self.verify(record):
                return record
        except (TypeError, ValueError, OSError):
            pass
        self.index.delete(key)
        return None

    def verify(self, record: Record) -> bool:
        """Are the record's blob's bytes what it says (a regular file of its sha256)? A
        blob that is there but wrong is removed, with a warning: it is a miss."""
        if not _is_sha256(record.sha256):
            return False
        path = self.blob_path(record.sha256)
        sha = self.hashes.sha256(path)
        if sha == record.sha256:
            return True
        if sha is not None or os.path.lexists(path):
            self.warn(
                f"cache blob {record.sha256[:12]} does not hold the bytes it was stored "
                "with (edited or swapped); dropped, to be made again"
            )
            self.drop_blob(record.sha256)
        return False

    def drop_blob(self, sha256: str) -> None:
        """Remove a blob's name (never what a symlink there points at)."""
        path = self.blob_path(sha256)
        if self._confined(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _confined(self, path: Path) -> bool:
        """Is `path`'s folder the cache's own `blobs/xx` (no symlink leads elsewhere)?"""
        expected = os.path.join(os.path.realpath(self.root), "blobs", path.parent.name)
        return os.path.realpath(path.parent) == expected

    def read(self, record: Record) -> bytes:
        path = self.blob_path(record.sha256)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != record.sha256:
            raise OSError(f"cache blob {record.sha256[:12]} is corrupt")
        return data

    def _whole(self, path: Path, sha256: str) -> bool:
        """Is a blob already there with exactly these bytes? (A wrong one is replaced.)"""
        return self.hashes.sha256(path) == sha256

    def _place(self, path: Path) -> None:
        """Make ready to write a blob at `path`: its folder inside the cache, and no
        wrong file or symlink in the way."""
        if not self._confined(path):
            raise OSError(f"{path.parent} leads outside the cache; refusing to write there")
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if os.path.islink(path):
                os.unlink(path)

    def put(self, key: str, data: bytes, meta: RecordMeta) -> Record:
        """Store bytes under a key; the blob is written before the index points at it."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not self._whole(path, sha):
            self._place(path)
            atomic_write(path, data, mode=0o444)
            self.hashes.remember(path, sha)
        record = _record(sha, len(data), meta)
        self.index.set(key, asdict(record))
        return record

    def put_file(
        self, key: str, source: Path, meta: RecordMeta, *, sha256: str | None = None
    ) -> Record:
        """Move a finished temp file (on the same file system) into the cache; `sha256`,
        when the caller hashed the bytes as it wrote them, saves reading them again."""
        sha = sha256 or file_sha256(source)
        path = self.blob_path(sha)
        size = source.stat().st_size
        if self._whole(path, sha):
            source.unlink()
        else:
            self._place(path)
            with open(source, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(source, 0o444)
            os.replace(source, path)
            self.hashes.remember(path, sha)
        record = _record(sha, size, meta)
        self.index.set(key, asdict(record))
        return record

    def alias(self, key: str, record: Record, meta: RecordMeta) -> Record | None:
        """Index `key` to the blob of an existing record (an output that is the master
        itself) without reading or writing its bytes; None if that blob is not whole."""
        if not self.verify(record):
            return None
        alias = _record(record.sha256, record.size, meta)
        self.index.set(key, asdict(alias))
        return alias

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def adopt(self, key: str, source: Path, sha256: str, meta: RecordMeta) -> Record | None:
        """Re-seed the cache from a published file whose hash is already known to match."""
        path = self.blob_path(sha256)
        if not self._whole(path, sha256):
            if not os.path.isfile(source) or os.path.islink(source):
                return None  # a symlink (to anywhere) is not a published file
            self._place(path)
            tmp = path.with_name(f".{sha256}.{os.getpid()}.tmp")
            try:
                shutil.copyfile(source, tmp, follow_symlinks=False)
                if file_sha256(tmp) != sha256:
                    return None
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
                self.hashes.remember(path, sha256)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        record = _record(sha256, path.stat().st_size, meta)
        self.index.set(key, asdict(record))
        return record

    def all_keys(self) -> list[str]:
        """Every key. diskcache's own iteration (by rowid; its key-ordered iterkeys pages by
        100 rows and took 880 ms at 22,000 keys). Reading its SQLite table in one query took
        50 ms against this 81 ms (interleaved, 15 rounds), and bench/run.py's plan after an
        edit at 10,000 outputs did not move (774 ms before, 815 ms after, medians of 7
        interleaved runs; per-pair ratio 0.99): too little to depend on its table's layout."""
        if not self.root.exists():
            return []
        return list(self.index)

    def forget(self, key: str) -> None:
        self.index.delete(key)


def _is_sha256(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and not text.strip("0123456789abcdef")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

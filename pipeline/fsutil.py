"""Atomic file writes: write beside the destination, fsync, then os.replace (never copy over)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new, never half.
    `durable=False` skips the fsyncs, for a file that is only a hint, checked when read
    (a copy of what another file says): after a power cut it may be empty, never wrong."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def relative_path(path: str) -> bool:
    """Is `path` a plain relative path below its folder ("a/b.png": no "..", ".", empty
    or absolute part, no NUL)? What the lock and index.json may name as an output."""
    if not path or path.startswith("/") or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Does `path`, with every symlink on the way resolved, stay within `root` (resolved)?"""
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == base or real.startswith(base + os.sep)


class FileHashes:
    """The sha256 of files, remembered by what lstat says of them (device, inode, size,
    mtime and ctime, as git's index does), so verifying ten thousand unchanged published
    files is ten thousand lstats, not a read of every byte. Any write to a file changes
    its ctime, which no user can set, so a remembered hash is never reused for other bytes.

    Only regular files are hashed: a symlink (to anywhere) or a folder has no hash here
    (None), so it never passes for a published output or a cache blob. The memo is a hint
    kept in `.brandkit/hashes`: missing or damaged, files are hashed again."""

    LIMIT = 250_000  # entries kept across runs; those used by this run always are

    def __init__(self, memo: Path | None = None):
        self.memo = memo
        self._known: dict[tuple[int, ...], str] | None = None
        self._used: set[tuple[int, ...]] = set()
        self._dirty = False

    @property
    def known(self) -> dict[tuple[int, ...], str]:
        if self._known is None:
            self._known = {}
            if self.memo is not None:
                import marshal

                with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                    loaded = marshal.loads(self.memo.read_bytes())
                    if isinstance(loaded, dict):
                        self._known = loaded
        return self._known

    @staticmethod
    def _key(st: os.stat_result) -> tuple[int, ...]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def sha256(self, path: str | os.PathLike[str]) -> str | None:
        """The hex sha256 of a regular file's bytes; None if it is missing or not one."""
        import stat

        try:
            st = os.lstat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        key = self._key(st)
        known = self.known.get(key)
        if known is not None:
            self._used.add(key)
            return known
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        import hashlib

        h = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
            after = os.fstat(f.fileno())
        sha = h.hexdigest()
        if self._key(after) == key:  # unchanged while read: worth remembering
            self.remember_key(key, sha)
        return sha

    def matches(self, path: str | os.PathLike[str], sha256: str) -> bool:
        return self.sha256(path) == sha256

    def remember(self, path: str | os.PathLike[str], sha256: str) -> None:
        """Record the hash of a file just made from bytes already verified (a hard link
        changes the inode's ctime: without this, the next look would read it again)."""
        with contextlib.suppress(OSError):
            self.remember_key(self._key(os.lstat(path)), sha256)

    def remember_key(self, key: tuple[int, ...], sha256: str) -> None:
        self.known[key] = sha256
        self._used.add(key)
        self._dirty = True

    def save(self) -> None:
        if not self._dirty or self.memo is None or self._known is None:
            return
        import marshal

        known = self._known
        if len(known) > self.LIMIT:
            known = {k: v for k, v in known.items() if k in self._used}
        with contextlib.suppress(OSError):
            atomic_write(self.memo, marshal.dumps(known), durable=False)
        self._dirty = False

"""One build at a time per project: an advisory file lock in `.brandkit/`.

check -> lock -> re-check: the build plans only once it holds the lock, so a second
build started at the same moment waits, then finds the first one's images in the cache
and pays for nothing. `plan` and `status` never take it. The kernel drops the lock when
its holder dies, even by SIGKILL, so a stale lock cannot wedge a project.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import BrandkitError


@contextlib.contextmanager
def build_lock(
    cache_dir: Path, *, wait: bool = True, notify: Callable[[str], None] = lambda message: None
) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / "build.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                raise BrandkitError(
                    f"another build of this project is running{holder}; "
                    "try again when it is done (or drop --no-wait to wait "
                    "for it)"
                ) from None
            notify(f"waiting for another build of this project{holder} to finish ...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(path.read_text().strip())})"
    return ""

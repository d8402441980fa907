"""cutpool: cut a master's outputs on every core, off the event loop.

`cut` reads one master's blob from the cache (verified against its sha256) and derives
each wanted output from it, in order, with derive.py. It runs in a pool of worker
processes, one per core, so cutting uses every core and never holds the event loop's
GIL. One task per master: what crosses the pipe is the blob's path and the targets
(bytes), and the outputs' bytes come back; the master is read and decoded once per
task, in the worker (a vector master's renders: one call to resvg's worker per task).
The parent stores what comes back (the cache is written by one process, atomically, as
ever).

The pool starts only when a build has cut, or plans to cut (`expect`), POOL_FROM
outputs: before that, and on a single core, `cut` runs in a thread (a pool's start-up,
~0.3 s, is worth it only for more work than that). A build that plans enough starts it
at its first cut: cutting its first masters in threads made the parent import the whole
derive stage and start resvg workers of its own, and delayed the pool's start. A no-op
build starts no process. Workers start with SIGINT ignored (Ctrl-C reaches the whole
process group; the parent decides what it means) and the pool is shut down at the end of
the build, interrupted or not (`close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache, Record
from .jobs import OutputTarget

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Outputs a build cuts in threads before it starts a pool: below this, a pool's start-up
# costs more than it saves (bench/cut_strategies.py).
POOL_FROM = 24
# spawn, not fork: brandkit's process has an event loop, threads and HTTP clients that a
# forked child would inherit half-copied. (forkserver measured no faster to start with
# two workers, and its server outlives the build; see bench/cut_strategies.py.)
START_METHOD = "spawn"
PARENT_CHECK_SECONDS = 0.5  # how soon a worker of a killed build ends


def cpu_workers() -> int:
    """One worker per core."""
    return max(1, os.cpu_count() or 1)


class CutError(Exception):
    """derive could not cut an output from its master: what it raised, as one line (an
    exception of any type crosses the pipe from a worker as this)."""


@dataclass
class Cut:
    """What came of cutting one master: the outputs' bytes, in the targets' order, up to
    the first that failed; and that failure (None: every target was cut)."""

    outputs: list[bytes] = field(default_factory=list)
    error: BaseException | None = None


def cut(root: str, master: Record, targets: list[OutputTarget]) -> Cut:
    """Read `master`'s blob from the cache at `root` and derive each target from it, in
    order, stopping at the first that fails. The same code in a worker or a thread."""
    from .derive import derive, open_master  # looked up at each call (tests wrap derive)

    made = Cut()
    try:
        data = Cache(Path(root)).read(master)
    except (OSError, MemoryError) as exc:
        made.error = _portable(exc)
        return made
    opened = open_master(data, targets)  # decoded, or its frames rendered, once
    for t in targets:
        if (master.format, master.width, master.height) == (t.format, t.width, t.height):
            made.outputs.append(data)  # the master itself (its blob was gone): same bytes
            continue
        try:
            out = derive(
                opened, t.width, t.height, t.format,
                fit=t.fit, ico_sizes=t.ico_sizes, text=t.text,
            )  # fmt: skip
        except (OSError, MemoryError) as exc:
            made.error = _portable(exc)
            return made
        except Exception as exc:  # Pillow on bytes a provider sent: the image's fault
            from .results import describe  # here: a worker imports no more than it uses

            made.error = CutError(describe(exc))
            return made
        made.outputs.append(out)
    return made


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives the pipe from a worker, else an OSError saying the same."""
    from .results import describe

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return OSError(describe(exc))
    return exc


def _start_worker(parent: int) -> None:
    """A worker ignores Ctrl-C (the build decides what it means) and ends when brandkit's
    process does. Killed (SIGKILL, the OOM killer, a cancelled CI job), brandkit cannot
    shut its pool down, and a worker would wait on its task queue for ever, holding the
    build's stdout and stderr open (a CI step waits for those to close)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is adopted by init (or a subreaper)
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """While workers are started: a process started with SIGINT ignored keeps ignoring
    it (Python installs its handler only where the parent had not set one), so a Ctrl-C
    while a worker is still importing cannot kill it half-started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Cutter:
    """Where a build's cuts run: threads, then (from POOL_FROM outputs) a process pool of
    `workers` processes, started on first use and shut down by `close`."""

    def __init__(self, root: Path, workers: int | None = None) -> None:
        self.root = str(root)
        self.workers = workers or cpu_workers()
        self._pool: ProcessPoolExecutor | None = None
        self._seen = 0  # outputs asked for so far
        self._expected = 0  # outputs the build plans to cut
        self.pooled = False  # has this build started a pool?
        # In this process, a thread holds a whole master: at most a few at once.
        self._threads = asyncio.Semaphore(max(1, min(4, self.workers)))

    def expect(self, outputs: int) -> None:
        """The build plans to cut `outputs` outputs (some may be the master itself)."""
        self._expected = outputs

    async def cut(self, master: Record, targets: list[OutputTarget]) -> Cut:
        """Cut `targets` from `master`, off the event loop."""
        self._seen += len(targets)
        if self.workers < 2 or max(self._seen, self._expected) < POOL_FROM:
            async with self._threads:
                return await asyncio.to_thread(cut, self.root, master, targets)
        from concurrent.futures.process import BrokenProcessPool

        loop = asyncio.get_running_loop()
        pool = self._start()
        with _interrupts_ignored():  # submit may start a worker
            pending = loop.run_in_executor(pool, cut, self.root, master, targets)
        try:
            return await pending
        except BrokenProcessPool:  # a worker died (killed, out of memory): a new pool next
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            return Cut(error=CutError("the process cutting it stopped (out of memory?)"))

    def _start(self) -> ProcessPoolExecutor:
        """The pool, started on first use (its modules too: a build that cuts nothing, or
        little, never imports multiprocessing)."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import process

            self.pooled = True
            self._pool = process.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context(START_METHOD),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def close(self) -> None:
        """Shut the pool down (if one started): what is queued is dropped, what is
        running finishes (one master's outputs a worker), every worker is joined."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

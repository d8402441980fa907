"""resvg in a child process of its own, with a deadline and a memory cap.

resvg has no deadline and aborts the process when an allocation fails. Sanitising
bounds the input (svg_safe.py), not the work: on 2 shared cores at 2048 px, 1,000
full-canvas rects took 5 s, 1,000 groups with opacity 97 s, 1,000 clipped groups over
100 s, and 20 nested patterns asked for 70 TB and aborted. So `draw` sends the SVG to a
worker process (`python -m pipeline.svg_worker`, started on first use, reused; one per
thread drawing at once in a process) whose address space is capped at MEMORY_BYTES, and
waits at most RENDER_SECONDS for each PNG. A worker that overruns is killed, one that
dies is replaced; either way the render is `SvgRejected`. `draw_many` sends all the
renders of one master in one batch (a round trip cost 13 ms of a 21 ms output on a busy
machine): each still has its own deadline, and the batch stops at the first that fails.

Frames on the pipes: a 4-byte big-endian count, then per SVG a 4-byte length and the
SVG; back, per SVG, one status byte (0 ok, 1 resvg's error), a 4-byte length, then the
PNG or the error's text. After an error the worker skips the rest of that batch.
"""

from __future__ import annotations

import atexit
import os
import select
import subprocess
import sys
import threading
import time

from .svg_safe import SvgRejected

RENDER_SECONDS = 60.0
MEMORY_BYTES = 3 * 1024**3  # an 8192x8192 RGBA canvas is 256 MB; layers add to it
# resvg.render takes an affine as (a, b, c, d, e, f): x' = ax + by + c, y' = dx + ey + f
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
NOWHERE = "/nonexistent/brandkit-renders-read-nothing"  # resvg's base for relative paths

BATCH_BYTES = 64 * 1024**2  # of SVG in one batch (at least one SVG): the worker holds it

_idle: dict[int, list[_Worker]] = {}  # per process (a forked child starts its own)
_started: list[_Worker] = []
_workers_lock = threading.Lock()


def draw(svg: bytes, timeout: float | None = None) -> bytes:
    """resvg's PNG of `svg` at its own width x height, drawn in the worker process.

    Raises SvgRejected when resvg refuses the SVG, overruns `timeout` (RENDER_SECONDS
    by default) or dies (out of memory)."""
    drawn, error = draw_many([svg], timeout)
    if error is not None:
        raise error
    return drawn[0]


def draw_many(
    svgs: list[bytes], timeout: float | None = None
) -> tuple[list[bytes], SvgRejected | None]:
    """resvg's PNGs of the leading `svgs` that it drew, in order, and why the next one
    was refused (None: all were drawn). Each has `timeout` (RENDER_SECONDS by default)."""
    worker = _checkout()
    try:
        return worker.draw_many(svgs, RENDER_SECONDS if timeout is None else timeout)
    finally:
        with _workers_lock:
            _idle.setdefault(os.getpid(), []).append(worker)


def _checkout() -> _Worker:
    """An idle worker of this process, else a new one (one per thread drawing at once)."""
    with _workers_lock:
        idle = _idle.setdefault(os.getpid(), [])
        if idle:
            return idle.pop()
        worker = _Worker()
        _started.append(worker)
        return worker


class _Worker:
    """One worker process and its pipes; restarted after a kill or a death."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = os.getpid()  # the process it belongs to

    def draw_many(
        self, svgs: list[bytes], timeout: float
    ) -> tuple[list[bytes], SvgRejected | None]:
        drawn: list[bytes] = []
        while len(drawn) < len(svgs):
            batch = _batch(svgs[len(drawn) :])
            error = self._draw_batch(batch, timeout, drawn)
            if error is not None:
                return drawn, error
        return drawn, None

    def _draw_batch(
        self, svgs: list[bytes], timeout: float, drawn: list[bytes]
    ) -> SvgRejected | None:
        """Append the PNGs of `svgs` to `drawn`, up to the first that fails: its error."""
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        fd = process.stdout.fileno()
        try:
            process.stdin.write(_frames(svgs))
            process.stdin.flush()
            for _ in svgs:
                deadline = time.monotonic() + timeout
                status = _read(fd, 5, deadline)
                payload = _read(fd, int.from_bytes(status[1:], "big"), deadline)
                if status[0] != 0:
                    text = payload[:80].decode(errors="replace")
                    return SvgRejected(f"resvg cannot render it ({text})")
                drawn.append(payload)
        except TimeoutError:
            self.stop(kill=True)
            return SvgRejected(f"resvg took longer than {timeout:g} s to render it")
        except (EOFError, BrokenPipeError):
            self.stop(kill=True)
            return SvgRejected("resvg died rendering it (out of memory?)")
        return None

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.svg_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # resvg's abort message on a failed allocation
                env=_environment(),  # no provider keys: the worker needs none
            )
        return self.process

    def stop(self, *, kill: bool = False) -> None:
        """End the worker: killed, or sent EOF and given 2 s to finish."""
        process, self.process = self.process, None
        if process is None:
            return
        if kill:
            process.kill()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _batch(svgs: list[bytes]) -> list[bytes]:
    """The leading `svgs` (at least one) that fit in BATCH_BYTES."""
    size, count = len(svgs[0]), 1
    while count < len(svgs) and size + len(svgs[count]) <= BATCH_BYTES:
        size += len(svgs[count])
        count += 1
    return svgs[:count]


def _frames(svgs: list[bytes]) -> bytes:
    return len(svgs).to_bytes(4, "big") + b"".join(
        len(svg).to_bytes(4, "big") + svg for svg in svgs
    )


def _read(fd: int, size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from `fd` by `deadline` (TimeoutError), or EOFError."""
    chunks: list[bytes] = []
    needed = size
    while needed:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(needed, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        needed -= len(chunk)
    return b"".join(chunks)


def _environment() -> dict[str, str]:
    """What the worker needs to start: PATH, and this very package on PYTHONPATH."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {name: os.environ[name] for name in ("PATH", "LD_LIBRARY_PATH") if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


@atexit.register
def _stop_all() -> None:
    with _workers_lock:
        for worker in _started:
            if worker.pid == os.getpid():
                worker.stop()
        _started.clear()
        _idle.clear()


def main() -> None:
    """The worker: cap memory, then render each batch of SVGs read from stdin to stdout."""
    import resource

    import resvg

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    options = resvg.usvg.Options.default()  # no fonts: the same pixels on every machine
    options.resources_dir = NOWHERE
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while len(head := source.read(4)) == 4:
        svgs = [
            source.read(int.from_bytes(source.read(4), "big"))
            for _ in range(int.from_bytes(head, "big"))
        ]
        for svg in svgs:
            try:
                tree = resvg.usvg.Tree.from_str(svg.decode("utf-8"), options)
                status, payload = 0, resvg.render(tree, IDENTITY)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:  # a document resvg cannot parse: pyo3's panic
                status, payload = 1, str(error)[:200].encode()
            sink.write(bytes([status]) + len(payload).to_bytes(4, "big") + payload)
            sink.flush()
            if status:
                break  # the rest of the batch: not drawn


if __name__ == "__main__":
    main()

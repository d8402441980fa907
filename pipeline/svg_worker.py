"""resvg in a child process of its own, with a deadline and a memory cap.

resvg has no deadline and aborts the process when an allocation fails. Sanitising
bounds the input (svg_safe.py), not the work: on 2 shared cores at 2048 px, 1,000
full-canvas rects took 5 s, 1,000 groups with opacity 97 s, 1,000 clipped groups over
100 s, and 20 nested patterns asked for 70 TB and aborted. So `draw` sends the SVG to a
worker process (`python -m pipeline.svg_worker`, started on first use, one per process
and thread, reused) whose address space is capped at MEMORY_BYTES, and waits at most
RENDER_SECONDS for its PNG. A worker that overruns is killed, one that dies is
replaced; either way the render is `SvgRejected`. The round trip costs a pipe copy of
the SVG and the PNG (about a millisecond for a 260 KB drawing).

Frames on the pipes: 4-byte big-endian length, then the SVG; back, one status byte
(0 ok, 1 resvg's error), a 4-byte length, then the PNG or the error's text.
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

_workers: dict[tuple[int, int], _Worker] = {}
_workers_lock = threading.Lock()


def draw(svg: bytes, timeout: float | None = None) -> bytes:
    """resvg's PNG of `svg` at its own width x height, drawn in the worker process.

    Raises SvgRejected when resvg refuses the SVG, overruns `timeout` (RENDER_SECONDS
    by default) or dies (out of memory)."""
    key = (os.getpid(), threading.get_ident())  # a forked child starts its own worker
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = _Worker()
    return worker.draw(svg, RENDER_SECONDS if timeout is None else timeout)


class _Worker:
    """One worker process and its pipes; restarted after a kill or a death."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def draw(self, svg: bytes, timeout: float) -> bytes:
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            process.stdin.write(len(svg).to_bytes(4, "big") + svg)
            process.stdin.flush()
            status = _read(process.stdout.fileno(), 5, deadline)
            payload = _read(process.stdout.fileno(), int.from_bytes(status[1:], "big"), deadline)
        except TimeoutError:
            self.stop(kill=True)
            raise SvgRejected(f"resvg took longer than {timeout:g} s to render it") from None
        except (EOFError, BrokenPipeError):
            self.stop(kill=True)
            raise SvgRejected("resvg died rendering it (out of memory?)") from None
        if status[0] != 0:
            raise SvgRejected(f"resvg cannot render it ({payload[:80].decode(errors='replace')})")
        return payload

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
        for worker in _workers.values():
            worker.stop()
        _workers.clear()


def main() -> None:
    """The worker: cap memory, then render each SVG read from stdin to stdout."""
    import resource

    import resvg

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    options = resvg.usvg.Options.default()  # no fonts: the same pixels on every machine
    options.resources_dir = NOWHERE
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while len(head := source.read(4)) == 4:
        svg = source.read(int.from_bytes(head, "big"))
        try:
            tree = resvg.usvg.Tree.from_str(svg.decode("utf-8"), options)
            status, payload = 0, resvg.render(tree, IDENTITY)
        except Exception as error:  # resvg raises plain Exceptions with its parser's text
            status, payload = 1, str(error)[:200].encode()
        sink.write(bytes([status]) + len(payload).to_bytes(4, "big") + payload)
        sink.flush()


if __name__ == "__main__":
    main()

"""How should brandkit cut outputs on every core? A measurement, not a figure of run.py.

    python bench/cut_strategies.py [--masters 200] [--per-master 5] [--size 1024]

Derives `per-master` outputs from each of `masters` PNG masters (written to a temp dir,
as cache blobs are) in several ways, interleaved, and prints outputs/s for each:

- threads: today's realise.py, `asyncio.to_thread` per output, at most `cpu` masters
  read at once (Pillow releases the GIL in decode/resize/encode, not in between);
- pool/<method>/bytes: a ProcessPoolExecutor, one task per master carrying its bytes;
- pool/<method>/path: one task per master carrying the blob's path (the worker reads it);
- pool/<method>/path-each: one task per output carrying the path (the worker decodes the
  master once per output).

It also times each pool's start-up (first task answered) and shutdown. `fork` is
measured for reference only: brandkit's process has an event loop, threads and HTTP
clients, which a forked child would inherit half-copied.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.derive import derive  # noqa: E402

VARIANTS = [
    ("spawn", "bytes"),
    ("spawn", "path"),
    ("spawn", "path-each"),
    ("forkserver", "path"),
    ("fork", "path"),
]
TARGETS = [
    (512, 512, "png"),
    (256, 256, "webp"),
    (192, 192, "png"),
    (64, 64, "png"),
    (32, 32, "ico"),
]


def make_masters(directory: Path, count: int, size: int) -> list[Path]:
    from PIL import Image

    paths = []
    base = Image.radial_gradient("L").resize((size, size)).convert("RGB")
    for i in range(count):
        noise = Image.effect_noise((size, size), 40).convert("RGB")
        image = Image.blend(base, noise, 0.3 + (i % 7) / 20)
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=6)
        path = directory / f"m{i:05d}.png"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def targets(per_master: int) -> list[tuple[int, int, str]]:
    return [TARGETS[i % len(TARGETS)] for i in range(per_master)]


def cut_bytes(data: bytes, wanted: list[tuple[int, int, str]]) -> list[bytes]:
    return [derive(data, w, h, f) for w, h, f in wanted]


def cut_path(path: str, wanted: list[tuple[int, int, str]]) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    return cut_bytes(data, wanted)


def cut_path_one(path: str, w: int, h: int, fmt: str) -> bytes:
    with open(path, "rb") as f:
        return derive(f.read(), w, h, fmt)


def warm() -> None:
    import pipeline.derive  # noqa: F401


async def run_threads(paths: list[Path], wanted: list[tuple[int, int, str]], cpu: int) -> int:
    slots = asyncio.Semaphore(cpu)

    async def one(path: Path) -> int:
        async with slots:
            data = await asyncio.to_thread(path.read_bytes)
            n = 0
            for w, h, f in wanted:
                n += len(await asyncio.to_thread(derive, data, w, h, f))
            return n

    return sum(await asyncio.gather(*(one(p) for p in paths)))


async def run_pool(
    pool: ProcessPoolExecutor, paths: list[Path], wanted: list[tuple[int, int, str]], how: str
) -> int:
    loop = asyncio.get_running_loop()
    if how == "bytes":
        futures = [loop.run_in_executor(pool, cut_bytes, p.read_bytes(), wanted) for p in paths]
    elif how == "path":
        futures = [loop.run_in_executor(pool, cut_path, str(p), wanted) for p in paths]
    else:
        futures = [
            loop.run_in_executor(pool, cut_path_one, str(p), w, h, f)
            for p in paths
            for w, h, f in wanted
        ]
    results = await asyncio.gather(*futures)
    return sum(len(b) if isinstance(b, bytes) else sum(map(len, b)) for b in results)


def cpu_now() -> float:
    """CPU seconds of this process and its reaped children (a pool's, after shutdown)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def new_pool(method: str, workers: int) -> tuple[ProcessPoolExecutor, float]:
    """A pool whose workers are all up and have imported derive; its start-up time."""
    start = time.perf_counter()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["pipeline.derive"])
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=warm)
    list(pool.map(time.sleep, [0.01] * workers))
    return pool, time.perf_counter() - start


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser()
    parser.add_argument("--masters", type=int, default=200)
    parser.add_argument("--per-master", type=int, default=5)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    wanted = targets(args.per_master)
    outputs = args.masters * args.per_master
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_masters(Path(tmp), args.masters, args.size)
        size = statistics.mean(p.stat().st_size for p in paths)
        print(
            f"{args.masters} masters {args.size}px (~{size / 1e6:.2f} MB PNG), "
            f"{outputs} outputs, {cores} cores, load {os.getloadavg()[0]:.2f}"
        )
        rates: dict[str, list[float]] = {}
        startups: dict[str, list[float]] = {}
        shutdowns: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            start, used = time.perf_counter(), cpu_now()
            for p in paths:
                cut_bytes(p.read_bytes(), wanted)
            rates.setdefault("bare loop (1 process)", []).append(
                outputs / (time.perf_counter() - start)
            )
            cpu.setdefault("bare loop (1 process)", []).append(cpu_now() - used)
            start, used = time.perf_counter(), cpu_now()
            asyncio.run(run_threads(paths, wanted, max(1, min(4, cores))))
            rates.setdefault("threads (today)", []).append(outputs / (time.perf_counter() - start))
            cpu.setdefault("threads (today)", []).append(cpu_now() - used)
            for method, how in VARIANTS:
                if True:
                    used = cpu_now()
                    pool, up = new_pool(method, cores)
                    startups.setdefault(method, []).append(up)
                    start = time.perf_counter()
                    asyncio.run(run_pool(pool, paths, wanted, how))
                    took = time.perf_counter() - start
                    rates.setdefault(f"pool/{method}/{how}", []).append(outputs / took)
                    start = time.perf_counter()
                    pool.shutdown(wait=True)
                    shutdowns.setdefault(method, []).append(time.perf_counter() - start)
                    cpu.setdefault(f"pool/{method}/{how}", []).append(cpu_now() - used)
        bare = statistics.median(rates["bare loop (1 process)"])
        for name, values in rates.items():
            rate = statistics.median(values)
            print(
                f"{name:28s} {rate:8.1f} outputs/s  {rate / bare:5.2f}x bare  "
                f"{rate / bare / cores:5.2f} per core  "
                f"CPU {statistics.median(cpu[name]) / outputs * 1000:6.1f} ms/output"
            )
        for method, values in startups.items():
            print(
                f"start-up {method:10s} {statistics.median(values) * 1000:7.1f} ms, "
                f"shutdown {statistics.median(shutdowns[method]) * 1000:6.1f} ms "
                f"({cores} workers, first task answered)"
            )


if __name__ == "__main__":
    main()

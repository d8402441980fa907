"""The shared remote cache's figures (issue 16), each beside its peer in the same run.

    python bench/remote.py [--quick] [--masters N] [--concurrency 16] [--rounds R]

1. `brandkit cache pull` of N masters of 2-6 MB (1,000; 100 with --quick) from moto's S3
   server on 127.0.0.1 into an empty local cache, against obstore alone doing the same
   GETs, 16 at once, each streamed to a file: throughput ratio (goal >= 0.85), rounds
   interleaved, medians.
2. Peak RSS of that pull (the child's, from getrusage; goal < 250 MB).
3. A build after the pull, and then a no-op build, with the remote configured: requests
   the remote received (through a counting proxy; goal: 0 for the no-op).

The masters are real PNGs of the kit's native 2048x2048 size, noise over a share of the
rows so that they weigh 2-6 MB, each made distinct by a text chunk (so every object and
every local blob is its own). Everything runs offline in a temporary directory. Figures
are reported, not asserted: exit 0 unless a figure could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.s3server import REGION, MotoServer, Proxy  # noqa: E402

SIDE = 2048  # recraft-v4-pro's native 1:1 size


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def base_pngs(count: int, rng: random.Random) -> list[bytes]:
    """PNGs of SIDE x SIDE from 2 to 6 MB: noise rows (incompressible) then flat rows."""
    from PIL import Image

    images = []
    for i in range(count):
        target = 2_000_000 + (4_000_000 * i) // max(count - 1, 1)
        rows = min(SIDE, target // (SIDE * 3))
        noise = Image.frombytes("RGB", (SIDE, rows), rng.randbytes(SIDE * rows * 3))
        image = Image.new("RGB", (SIDE, SIDE), (200, 190, 180))
        image.paste(noise, (0, 0))
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        images.append(out.getvalue())
    return images


def distinct(png: bytes, n: int) -> bytes:
    """The PNG with a tEXt chunk naming `n` before IEND: other bytes, the same image."""
    body = b"tEXt" + b"bench\x00" + str(n).encode()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:-12] + chunk + png[-12:]


def manifest(count: int) -> str:
    subjects = ", ".join(f"s{i:04d}" for i in range(count))
    return (
        "kit: {name: bench-remote}\n"
        "defaults: {provider: runware, model: recraft-v4-pro}\n"
        "assets:\n"
        f"  tile: {{prompt: 'tile {{{{ subject }}}}', matrix: {{subject: [{subjects}]}},"
        " sizes: ['1:1']}\n"
    )


def job_keys(project: Path, env: dict[str, str]) -> list[str]:
    from pipeline.project import Project
    from pipeline.workflow import load

    return sorted({j.key for j in load(Project.at(project), env).jobs})


def store_for(endpoint: str, bucket: str, prefix: str):  # type: ignore[no-untyped-def]
    from obstore.store import S3Store

    return S3Store(
        bucket, prefix=prefix, endpoint=endpoint, region=REGION, client_options={"allow_http": True}
    )


async def upload(store, keys: list[str], bases: list[bytes], concurrency: int) -> int:  # type: ignore[no-untyped-def]
    import obstore

    gate, total = asyncio.Semaphore(concurrency), 0

    async def one(i: int, key: str) -> None:
        nonlocal total
        async with gate:  # (made inside the gate: never all the objects in memory at once)
            data = distinct(bases[i % len(bases)], i)
            total += len(data)
            meta = {"sha256": hashlib.sha256(data).hexdigest(), "Content-Type": "image/png"}
            await obstore.put_async(store, f"masters/{key}", data, attributes=meta)

    await asyncio.gather(*(one(i, k) for i, k in enumerate(keys)))
    return total


async def client_alone(  # type: ignore[no-untyped-def]
    store, keys: list[str], out: Path, concurrency: int, sha: bool = False
) -> None:
    """The peer: the same GETs with obstore, streamed to files, the same concurrency;
    with `sha`, each body also hashed (sha256, off the loop), as verifying needs."""
    import obstore

    gate = asyncio.Semaphore(concurrency)

    async def one(key: str) -> None:
        async with gate:
            result = await obstore.get_async(store, f"masters/{key}")
            h = hashlib.sha256()
            with open(out / key, "wb") as f:
                async for chunk in result.stream(min_chunk_size=1 << 20):
                    if sha:
                        await asyncio.to_thread(h.update, chunk)
                    f.write(chunk)

    await asyncio.gather(*(one(k) for k in keys))


def child_env(endpoint: str, bucket: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRANDKIT_", "AWS_"))}
    env.update(
        PYTHONPATH=str(REPO),
        AWS_ACCESS_KEY_ID="bench-key-id",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION=REGION,
        BRANDKIT_REMOTE=f"s3://{bucket}/team",
        BRANDKIT_REMOTE_ENDPOINT=endpoint,
        NO_COLOR="1",
    )
    return env


# The child's own peak RSS (VmHWM: getrusage's ru_maxrss would also count the parent's
# pages, inherited by the fork before exec), printed last on stderr.
_MEASURED = (
    "import sys\n"
    "from pipeline.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
    "print('peak-rss-kb', hwm[0].split()[1] if hwm else 0, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def brandkit(project: Path, env: dict[str, str], *args: str) -> tuple[float, str, float]:
    """Run `brandkit -C project ARGS` in a child: (seconds, stdout, peak RSS in MB)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, "-C", str(project), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"brandkit {' '.join(args)} failed: {done.stderr[-2000:]}")
    last = done.stderr.strip().rsplit("\n", 1)[-1].split()
    peak = int(last[1]) / 1024 if last[:1] == ["peak-rss-kb"] else 0.0
    return seconds, done.stdout, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 masters, 2 rounds")
    parser.add_argument("--masters", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=None)
    options = parser.parse_args()
    count = options.masters or (100 if options.quick else 1000)
    rounds = options.rounds or (2 if options.quick else 3)
    from pipeline.remote_cache import CONCURRENCY

    if options.concurrency != CONCURRENCY:
        say(f"note: brandkit pulls {CONCURRENCY} at once; the peer is set to the same")
        options.concurrency = CONCURRENCY
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(1 << 20))  # spill to disk
    server = MotoServer(log=str(work / "moto.log"))
    try:
        return run(work, server, count, rounds, options.concurrency)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, server: MotoServer, count: int, rounds: int, concurrency: int) -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="bench-key-id", AWS_SECRET_ACCESS_KEY="bench-secret")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    project = work / "kit"
    project.mkdir()
    (project / "brandkit.yaml").write_text(manifest(count), "utf-8")
    env = child_env(server.url, bucket)
    keys = job_keys(project, env)
    say(f"making {min(count, 24)} base PNGs and uploading {count} masters ...")
    bases = base_pngs(min(count, 24), random.Random(16))
    store = store_for(server.url, bucket, "team")
    total = asyncio.run(upload(store, keys, bases, concurrency))
    say(f"uploaded {total / 1e9:.2f} GB; {rounds} interleaved rounds")
    times: dict[str, list[float]] = {"peer": [], "peer+sha": [], "pull": []}
    rss: list[float] = []
    for r in range(rounds):
        for name, sha in (("peer", False), ("peer+sha", True)):
            out = work / "peer"
            out.mkdir()
            started = time.perf_counter()
            asyncio.run(client_alone(store, keys, out, concurrency, sha))
            times[name].append(time.perf_counter() - started)
            shutil.rmtree(out)
        shutil.rmtree(project / ".brandkit", ignore_errors=True)
        seconds, text, peak = brandkit(project, env, "cache", "pull")
        times["pull"].append(seconds)
        rss.append(peak)
        if not text.startswith(f"pulled {count},"):
            raise SystemExit(f"cache pull did not pull everything: {text}")
        say(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    builds = no_op_requests(project, env, server)
    rate = {k: total / 1e6 / statistics.median(v) for k, v in times.items()}
    print(f"remote cache bench: {count} masters, {total / 1e9:.2f} GB, {concurrency} at once")
    labels = {
        "peer": "obstore alone (peer)",
        "peer+sha": "obstore alone + sha256",
        "pull": "brandkit cache pull",
    }
    for name, label in labels.items():
        median = statistics.median(times[name])
        print(f"  {label:<24} {rate[name]:6.0f} MB/s   median of {rounds}: {median:.2f} s")
    print(f"  ratio pull / peer          {rate['pull'] / rate['peer']:6.2f}        goal >= 0.85")
    print(f"  ratio pull / peer+sha256   {rate['pull'] / rate['peer+sha']:6.2f}")
    print(f"  peak RSS of the pull       {max(rss):6.0f} MB      goal < 250 (max of the rounds)")
    print(
        f"  requests to the remote: build after the pull {builds[0]}, no-op build "
        f"{builds[1]}, no-op build without the fast path's stamp {builds[2]} (goal: 0)"
    )
    return 0


def no_op_requests(project: Path, env: dict[str, str], server: MotoServer) -> tuple[int, int, int]:
    """Requests the remote received during the build that follows a pull, during a no-op
    build, and during a no-op build without the fast path's stamp (the full pipeline:
    load, plan, execute); a child each, counted by a proxy in front of the server."""
    proxy = Proxy(server.port)
    counts = []
    try:
        env = {**env, "BRANDKIT_REMOTE_ENDPOINT": proxy.url}
        for stamp in (True, True, False):
            if not stamp:
                (project / ".brandkit" / "stamp").unlink(missing_ok=True)
            before = len(proxy.requests)
            brandkit(project, env, "build")
            counts.append(len(proxy.requests) - before)
        return counts[0], counts[1], counts[2]
    finally:
        proxy.stop()


if __name__ == "__main__":
    sys.exit(main())

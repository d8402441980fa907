"""brandkit's benchmark harness: one table of medians, each next to its peer and target.

    python bench/run.py [--quick] [--only NAME ...] [--keep] [--kit-dir DIR]

Measures this checkout (`sys.executable -m pipeline` with PYTHONPATH set to the repo
root) in temporary directories, offline: the `local` provider, or the loopback provider
emulator of tests/emulator running in this process. Targets are goals to report, not
assertions: the exit status is 0 whether they pass or fail, 1 only when a figure could
not be measured at all. Progress goes to stderr; the header and the table to stdout.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kits

REPO = Path(__file__).resolve().parent.parent
PROVIDER_ENV = (
    "RUNWARE_API_KEY",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "PIXELDOJO_API_KEY",
    "RECRAFT_API_TOKEN",
)
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
FIGURES = ("startup", "noop", "change", "throughput", "memory", "derive", "vector")
NOOP_SIZES = (1_000, 10_000)
NOOP_TARGET_MS = {1_000: 80.0, 10_000: 150.0}
MAKE_RATIO_TARGET = 3.0  # at 10,000 outputs
CHANGE_TARGET_S = 1.0
CONCURRENCY = 8
LATENCY = 0.5
THROUGHPUT_TARGET = 0.95
BOOKKEEPING_TARGET_MS = 1.0
MEMORY_TARGET_MB = 250.0
MEMORY_MODEL = "recraft-v4-pro"  # 2K: a 1:1 master is 2048x2048, served as a ~6 MB PNG
STARTUP_RUNS = 20
STARTUP_TARGET_MS = 30.0

# Run in a fresh interpreter: runs the command, then reports the peak RSS of its children
# (in KiB on Linux), so each figure is the build's own peak and nothing else's.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


class HarnessError(Exception):
    """A figure could not be measured (a command failed, an output made no sense)."""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the table -------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    runs: int | str
    value: str
    peer: str = "-"
    ratio: str = "-"
    target: str = "-"
    result: str = "info"  # PASS | FAIL | SKIP | ERROR | info
    note: str = ""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def print_table(rows: list[Row]) -> None:
    header = ("figure", "N", "value", "peer", "ratio", "target", "result", "note")
    cells = [
        header,
        *[
            (r.figure, str(r.runs), r.value, r.peer, r.ratio, r.target, r.result, r.note)
            for r in rows
        ],
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    for i, row in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        print(f"{line}  {row[-1]}".rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  ----")


# -- running brandkit ----------------------------------------------------------------------


@dataclass
class Bench:
    """Options and shared state of one harness run."""

    quick: bool
    root: Path  # every project, kit and cache of this run lives under it
    kit_dir: Path | None = None  # --kit-dir: where the no-op kits are kept between runs
    notes: list[str] = field(default_factory=list)
    _kits: dict[int, tuple[Path, kits.Kit]] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return 3 if self.quick else 5

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every child: this checkout first on the path, no provider
        keys or URLs or proxies inherited, bytecode cached in our temp dir."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BRANDKIT_") and k not in PROVIDER_ENV and k not in PROXY_ENV
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure brandkit as installed: with .pyc
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")  # ...but not in the tree
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.update(extra)
        return env

    def tempdir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))


# Everything a build imports, so the bytecode cache is warm before anything is timed: a
# real install has its .pyc files, and a figure run alone (--only) must not pay for the
# compilation the no-op figure would otherwise have paid first.
WARM_UP = """
import asyncio, httpx, pipeline.cli, pipeline.workflow, pipeline.execute, pipeline.publish
import pipeline.derive, pipeline.contact_sheet, pipeline.manifest, pipeline.history
async def client():
    async with httpx.AsyncClient():
        pass
asyncio.run(client())
"""


def warm_bytecode(bench: Bench) -> None:
    say("warming the bytecode cache")
    run([sys.executable, "-c", WARM_UP], REPO, bench.env())
    run(brandkit("--version"), REPO, bench.env())


def brandkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], *, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode not in ok:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise HarnessError(f"`{' '.join(cmd[-3:])}` exited {proc.returncode}: {tail}")
    return proc


def timed(cmd: list[str], cwd: Path, env: dict[str, str], **kw: Any) -> float:
    start = time.perf_counter()
    run(cmd, cwd, env, **kw)
    return time.perf_counter() - start


def interleaved(
    commands: dict[str, tuple[list[str], Path]], runs: int, env: dict[str, str]
) -> dict[str, float]:
    """Median wall time of each command; one round runs each once, so the machine's
    noise falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (cmd, cwd) in commands.items():
            times[name].append(timed(cmd, cwd, env))
    return {name: statistics.median(values) for name, values in times.items()}


def published_versions(project: Path) -> list[str]:
    dist = project / "dist"
    return sorted(p.name for p in dist.glob("v[0-9]*")) if dist.is_dir() else []


def noop_kit(bench: Bench, outputs: int) -> tuple[Path, kits.Kit]:
    """The no-op kit of `outputs` outputs (local provider), built once per harness run, or
    reused from --kit-dir when its manifest there is the same."""
    if outputs not in bench._kits:
        kit = kits.noop_kit(outputs)
        if bench.kit_dir is None:
            project = kit.write(bench.tempdir(f"noop-{outputs}-"))
        else:
            project = bench.kit_dir / f"noop-{outputs}"
            manifest = project / "brandkit.yaml"
            if manifest.exists() and manifest.read_text("utf-8") != kit.manifest:
                remove_tree(project)  # an older kit design: start again
            kit.write(project)
        reused = (project / "dist" / "latest").exists()
        say(
            f"{'updating' if reused else 'building'} the {outputs:,}-output kit "
            f"({kit.jobs:,} jobs, local, -j 2) in {project}"
        )
        seconds = timed(brandkit("build", "-j", "2"), project, bench.env())
        first = "build of the kit kept in --kit-dir" if reused else "first build"
        bench.notes.append(
            f"kit of {outputs:,} outputs ({kit.jobs:,} jobs, local provider, recraft-v4): "
            f"{first} {seconds:.0f} s with -j 2"
        )
        say(f"done in {seconds:.0f} s")
        bench._kits[outputs] = (project, kit)
    return bench._kits[outputs]


# -- figure 5: start-up ----------------------------------------------------------------------


def script_interpreter(script: str) -> str | None:
    """The interpreter named by a console script's `#!` line."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    return first[2:].split()[0] if first.startswith("#!") and first[2:].strip() else None


def startup_row(bench: Bench, label: str, cmd: list[str], python: str, env: dict[str, str]) -> Row:
    cwd = bench.root
    run(cmd, cwd, env)  # warm the bytecode cache and the page cache
    t = interleaved({"cmd": (cmd, cwd), "peer": ([python, "-c", "pass"], cwd)}, STARTUP_RUNS, env)
    delta = t["cmd"] - t["peer"]
    return Row(
        label,
        STARTUP_RUNS,
        ms(t["cmd"]),
        f"{ms(t['peer'])} (python -c pass)",
        f"{delta * 1000:+.1f} ms",
        f"<= +{STARTUP_TARGET_MS:.0f} ms",
        verdict(delta * 1000 <= STARTUP_TARGET_MS),
    )


def figure_startup(bench: Bench) -> list[Row]:
    env = bench.env()
    rows = [
        startup_row(
            bench,
            "start-up: python -m pipeline --version",
            brandkit("--version"),
            sys.executable,
            env,
        )
    ]
    script = shutil.which("brandkit")
    if script is None:
        rows.append(
            Row(
                "start-up: brandkit --version",
                "-",
                "-",
                result="SKIP",
                note="no `brandkit` console script on PATH",
            )
        )
        return rows
    python = script_interpreter(script) or sys.executable
    row = startup_row(bench, "start-up: brandkit --version", [script, "--version"], python, env)
    row.note = f"{script} (installed copy, not necessarily this checkout)"
    if Path(python).resolve() != Path(sys.executable).resolve():
        row.note += f"; its interpreter is {python}"
    rows.append(row)
    return rows


# -- figure 1: no-op -------------------------------------------------------------------------


def figure_noop(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    env = bench.env()
    for outputs in NOOP_SIZES:
        project, _ = noop_kit(bench, outputs)
        make_dir = kits.write_make_tree(bench.tempdir(f"make-{outputs}-"), outputs)
        before = published_versions(project)
        commands = {
            "build": (brandkit("build"), project),
            "status": (brandkit("status", "--check"), project),
            "make": (["make", "-r", "-q"], make_dir),
        }
        for cmd, cwd in commands.values():  # warm-up (writes brandkit's no-op stamp, if any)
            run(cmd, cwd, env)
        say(f"timing no-op build / status --check / make -r -q at {outputs:,} outputs")
        t = interleaved(commands, bench.runs, env)
        extra = published_versions(project)[len(before) :]
        rows += [
            noop_row(bench, outputs, "build", t["build"], t["make"], extra),
            noop_row(bench, outputs, "status --check", t["status"], t["make"], []),
        ]
    return rows


def noop_row(
    bench: Bench, outputs: int, command: str, seconds: float, make: float, extra: list[str]
) -> Row:
    limit = NOOP_TARGET_MS[outputs]
    ok = seconds * 1000 < limit
    target = f"< {limit:.0f} ms"
    if outputs == max(NOOP_SIZES):
        ok = ok and seconds <= MAKE_RATIO_TARGET * make
        target += f", <= {MAKE_RATIO_TARGET:.0f}x make"
    note = ""
    if extra:
        ok, note = False, f"NOT a no-op: published {', '.join(extra)}"
    return Row(
        f"no-op {command}, {outputs:,} outputs",
        bench.runs,
        ms(seconds),
        f"{ms(make)} (make -r -q)",
        f"{seconds / make:.2f}x",
        target,
        verdict(ok),
        note,
    )


# -- figure 2: one change --------------------------------------------------------------------


def figure_change(bench: Bench) -> list[Row]:
    outputs = max(NOOP_SIZES)
    project, kit = noop_kit(bench, outputs)
    manifest = project / "brandkit.yaml"
    env = bench.env()
    cmd = brandkit("plan", "--json")
    manifest.write_text(kits.edit_accent(kit.manifest), "utf-8")
    try:
        run(cmd, project, env)  # warm-up
        say(f"timing plan --json after one colour edit at {outputs:,} outputs")
        times, generate, total = [], -1, -1
        for _ in range(bench.runs):
            start = time.perf_counter()
            proc = run(cmd, project, env)
            times.append(time.perf_counter() - start)
            generate, total = count_generate(proc.stdout)
    finally:
        manifest.write_text(kit.manifest, "utf-8")
    seconds = statistics.median(times)
    exact = generate == kit.accent_jobs
    return [
        Row(
            f"plan after 1 colour edit, {outputs:,} outputs",
            bench.runs,
            ms(seconds),
            target=f"< {CHANGE_TARGET_S:.0f} s, exactly 1% replanned",
            result=verdict(seconds < CHANGE_TARGET_S and exact),
            note=f"generate: {generate} of {total} jobs; expected {kit.accent_jobs} (1%)",
        )
    ]


def count_generate(stdout: str) -> tuple[int, int]:
    try:
        jobs = json.loads(stdout)["jobs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"plan --json printed no job list: {exc}") from exc
    return sum(1 for job in jobs if job.get("status") == "generate"), len(jobs)


# -- the emulator ----------------------------------------------------------------------------


@contextmanager
def emulator(latency: float) -> Iterator[Any]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.emulator import Emulator

    with Emulator(latency=latency) as emu:
        yield emu


class JobTracker:
    """Instruments the emulator's Runware (bench-side only) to see, per task, when it was
    submitted and when a poll first handed back its result: the jobs in progress at the
    provider at any moment, which a client limited to C generations can't push past C."""

    def __init__(self, runware: Any) -> None:
        self._lock = threading.Lock()
        self.submitted: dict[str, float] = {}
        self.collected: dict[str, float] = {}
        inference, get_response = runware._inference, runware._get_response

        def tracked_inference(task: dict[str, Any], ctx: Any, seen: set[str]) -> Any:
            start = time.monotonic()
            result = inference(task, ctx, seen)
            with self._lock:
                self.submitted.setdefault(task["taskUUID"], start)
            return result

        def tracked_get_response(task: dict[str, Any], ctx: Any) -> Any:
            items, errors = get_response(task, ctx)
            if any(item.get("status") == "success" for item in items):
                with self._lock:
                    self.collected.setdefault(task["taskUUID"], time.monotonic())
            return items, errors

        runware._inference, runware._get_response = tracked_inference, tracked_get_response

    def reset(self) -> None:
        with self._lock:
            self.submitted.clear()
            self.collected.clear()

    def max_in_progress(self) -> int:
        with self._lock:
            events = [(t, 1) for t in self.submitted.values()]
            events += [(t, -1) for u, t in self.collected.items() if u in self.submitted]
        level = peak = 0
        for _, step in sorted(events):  # at equal times a collection comes first
            level += step
            peak = max(peak, level)
        return peak


# The first poll interval, in proportion to the emulated latency (0.5 s) as brandkit's
# default of 1 s is to a typical 20-35 s real generation.
POLL_INTERVAL = 0.02


def provider_env(bench: Bench, emu: Any, poll: float = POLL_INTERVAL) -> dict[str, str]:
    return bench.env(
        RUNWARE_API_KEY=emu.keys["runware"],
        BRANDKIT_RUNWARE_URL=emu.base_url("runware"),
        BRANDKIT_POLL_INTERVAL=str(poll),
    )


@dataclass
class Usage:
    """Wall time and CPU seconds of one build: brandkit's (the child) and this process's
    (the emulator's threads, mostly)."""

    wall: float
    brandkit_cpu: float
    emulator_cpu: float
    requests: int  # HTTP requests the emulator answered during the build


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def provider_build(bench: Bench, emu: Any, kit: kits.Kit, env: dict[str, str]) -> Usage:
    """One build of `kit` from scratch (a fresh project) against the emulator."""
    project = kit.write(bench.tempdir("provider-"))
    emu.reset()
    children, me = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    try:
        wall = timed(brandkit("build"), project, env)
    finally:
        remove_tree(project)
    usage = Usage(
        wall,
        cpu_seconds(resource.RUSAGE_CHILDREN) - children,
        cpu_seconds(resource.RUSAGE_SELF) - me,
        len(emu.requests),
    )
    paid = emu.paid_by_provider["runware"]
    if paid != kit.jobs:
        raise HarnessError(f"the emulator was paid for {paid} images, expected {kit.jobs}")
    return usage


# -- served images ---------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")


def with_text(png: bytes, text: str) -> bytes:
    """`png` with a tEXt chunk after IHDR: other bytes (and sha256), same pixels."""
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:ihdr_end] + png_chunk(b"tEXt", b"bench\x00" + text.encode()) + png[ihdr_end:]


def encode_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def solid_png(width: int, height: int) -> bytes:
    from PIL import Image

    return encode_png(Image.new("RGB", (width, height), (91, 127, 74)))


def noise_png(width: int, height: int) -> bytes:
    """An RGB PNG of random values 0..5 per channel: ~6 MB at 2048x2048 (noise compresses
    badly; six levels keep it at the size of a real 2K master)."""
    from PIL import Image

    pixels = os.urandom(width * height * 3).translate(bytes(i % 6 for i in range(256)))
    return encode_png(Image.frombytes("RGB", (width, height), pixels))


def serve_images(
    emu: Any, factory: Callable[[int, int], bytes], warm: tuple[int, int] | None = None
) -> Callable[[int, int], bytes]:
    """Make the emulator serve, for every PNG it generates, one image per size made once by
    `factory`, each copy with its own tEXt chunk (so every image has its own sha256).
    Bench-side only: it replaces the emulator's per-prompt encoding, whose cost (in this
    process) would otherwise be counted against brandkit."""
    lock = threading.Lock()
    made: dict[tuple[int, int], bytes] = {}
    original = emu.images.data

    def base(width: int, height: int) -> bytes:
        with lock:
            if (width, height) not in made:
                made[width, height] = factory(width, height)
            return made[width, height]

    def data(record: Any) -> bytes:
        if record.fmt != "PNG":
            return original(record)
        return with_text(base(record.width, record.height), record.file_id)

    emu.images.data = data
    if warm is not None:
        base(*warm)
    return base


# -- figure 3: provider-bound throughput -----------------------------------------------------


# The floor under bookkeeping: what one image download costs with brandkit's HTTP stack
# and nothing else (httpx with brandkit's transport, streamed, eight at once, from the same
# emulator serving the same images). Run in a child, like the builds, and measured there.
HTTP_FLOOR = """
import asyncio, json, sys, time
import httpx
from pipeline.providers.transport import transport
urls = json.load(sys.stdin)
async def main():
    async with httpx.AsyncClient(transport=transport(httpx)) as client:
        slots = asyncio.Semaphore(8)
        async def get(url):
            async with slots, client.stream("GET", url) as response:
                response.raise_for_status()
                async for _ in response.aiter_bytes():
                    pass
        await asyncio.gather(*(get(url) for url in urls[:64]))  # connections, warm code
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(get(url) for url in urls[64:]))
        return time.perf_counter() - wall, time.process_time() - cpu
wall, cpu = asyncio.run(main())
print(json.dumps({"wall": wall, "cpu": cpu, "requests": len(urls) - 64}))
"""


def http_floor(bench: Bench, emu: Any, requests: int) -> tuple[float, float]:
    """Wall and client CPU seconds per streamed GET of one served 1024x1024 image."""
    records = [
        emu.images.register("runware", f"floor {i}", 1024, 1024, "PNG")
        for i in range(64 + requests)
    ]
    urls = [f"{emu.url}/files/{record.name}" for record in records]
    proc = subprocess.run(
        [sys.executable, "-c", HTTP_FLOOR],
        input=json.dumps(urls),
        cwd=REPO,
        env=bench.env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise HarnessError(f"the HTTP floor client exited {proc.returncode}: {proc.stderr[-600:]}")
    got = json.loads(proc.stdout)
    return got["wall"] / got["requests"], got["cpu"] / got["requests"]


def figure_throughput(bench: Bench) -> list[Row]:
    jobs = 200 if bench.quick else 500
    runs = 1 if bench.quick else 3
    kit = kits.provider_kit(jobs, concurrency=CONCURRENCY)
    ideal = jobs / CONCURRENCY * LATENCY
    with emulator(LATENCY) as emu:
        serve_images(emu, solid_png, warm=(1024, 1024))
        tracker = JobTracker(emu.providers["runware"])
        walls, in_flight, in_progress = [], 0, 0
        for i in range(runs):
            say(
                f"throughput run {i + 1}/{runs}: {jobs} jobs at {LATENCY} s latency "
                f"(ideal {ideal:.2f} s)"
            )
            emu.latency = LATENCY
            tracker.reset()
            walls.append(provider_build(bench, emu, kit, provider_env(bench, emu)).wall)
            in_flight = max(in_flight, emu.max_in_flight)
            in_progress = max(in_progress, tracker.max_in_progress())
        # Bookkeeping is what each further job adds: the same build at zero latency with
        # `jobs` and with a tenth of them, interleaved; the difference per extra job
        # leaves out what a build costs once (start-up, imports, the HTTP client, publish).
        small = max(1, jobs // 10)
        small_kit = kits.provider_kit(small, concurrency=CONCURRENCY)
        # Its floor, in the same rounds: one image GET with brandkit's HTTP stack alone,
        # times the requests each extra job makes.
        usages, marginal, marginal_cpu, requests, floors = [], [], [], [], []
        emu.latency = 0.0
        for i in range(bench.runs):
            say(f"bookkeeping run {i + 1}/{bench.runs}: {small} and {jobs} jobs at zero latency")
            base = provider_build(bench, emu, small_kit, provider_env(bench, emu, 0.0))
            usages.append(provider_build(bench, emu, kit, provider_env(bench, emu, 0.0)))
            marginal.append((usages[-1].wall - base.wall) / (jobs - small))
            marginal_cpu.append((usages[-1].brandkit_cpu - base.brandkit_cpu) / (jobs - small))
            requests.append((usages[-1].requests - base.requests) / (jobs - small))
            floors.append(http_floor(bench, emu, jobs))
    wall = statistics.median(walls)
    per_job = statistics.median(marginal)
    per_job_cpu = statistics.median(marginal_cpu)
    whole = statistics.median(u.wall for u in usages) / jobs
    brandkit_cpu = statistics.median(u.brandkit_cpu for u in usages) / jobs
    emulator_cpu = statistics.median(u.emulator_cpu for u in usages) / jobs
    per_request = statistics.median(wall for wall, _ in floors)
    per_request_cpu = statistics.median(cpu for _, cpu in floors)
    requests_per_job = statistics.median(requests)
    label = f"{jobs} jobs, runware, concurrency {CONCURRENCY}"
    return [
        Row(
            f"throughput: {label}, {LATENCY} s latency",
            runs,
            f"{wall:.2f} s",
            f"{ideal:.2f} s (ideal)",
            f"{ideal / wall:.3f} of ideal",
            f">= {THROUGHPUT_TARGET} of ideal",
            verdict(ideal / wall >= THROUGHPUT_TARGET),
            f"BRANDKIT_POLL_INTERVAL={POLL_INTERVAL}",
        ),
        Row(
            "  max submit POSTs open at once",
            runs,
            str(in_flight),
            target=f"<= {CONCURRENCY}",
            result=verdict(in_flight <= CONCURRENCY),
            note="emulator max_in_flight, max of runs",
        ),
        Row(
            "  max jobs in progress at provider",
            runs,
            str(in_progress),
            target=f"<= {CONCURRENCY}",
            result=verdict(in_progress <= CONCURRENCY),
            note="submitted, result not yet polled (bench-side tracking); max of runs",
        ),
        Row(
            f"bookkeeping per job: {jobs} jobs, zero latency",
            bench.runs,
            f"{per_job * 1000:.2f} ms",
            target=f"< {BOOKKEEPING_TARGET_MS:.0f} ms",
            result=verdict(per_job * 1000 < BOOKKEEPING_TARGET_MS),
            note=f"(wall {jobs} - wall {small}) / {jobs - small}, BRANDKIT_POLL_INTERVAL=0; "
            f"brandkit CPU per extra job {per_job_cpu * 1000:.1f} ms; "
            f"whole build / jobs {whole * 1000:.1f} ms; CPU per job: brandkit "
            f"{brandkit_cpu * 1000:.1f} ms, emulator {emulator_cpu * 1000:.1f} ms",
        ),
        Row(
            "  floor: one image GET, brandkit's HTTP stack alone",
            bench.runs,
            f"{per_request * 1000:.2f} ms",
            note=f"httpx + pipeline.providers.transport, streamed, 8 at once, same emulator "
            f"and images; client CPU {per_request_cpu * 1000:.2f} ms per GET",
        ),
        Row(
            "  requests per extra job",
            bench.runs,
            f"{requests_per_job:.2f}",
            note=f"submits, polls and downloads the emulator answered; x one GET = "
            f"{requests_per_job * per_request * 1000:.2f} ms of HTTP alone per job",
        ),
    ]


# -- figure 4: memory ------------------------------------------------------------------------


def peak_rss_kib(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    proc = run([sys.executable, "-c", RSS_WRAPPER, *cmd], cwd, env)
    rc, kib = proc.stdout.split()
    if rc != "0":
        raise HarnessError(f"the build under the RSS wrapper exited {rc}")
    return int(kib)


def figure_memory(bench: Bench) -> list[Row]:
    images = 200 if bench.quick else 1000
    runs = 3  # a slow figure (a 1,000-image build is ~1 minute) whose value varies little
    kit = kits.provider_kit(images, model=MEMORY_MODEL, concurrency=CONCURRENCY)
    peaks = []
    with emulator(0.0) as emu:
        size = len(serve_images(emu, noise_png, warm=(2048, 2048))(2048, 2048))
        env = provider_env(bench, emu)
        for i in range(runs):
            say(f"memory run {i + 1}/{runs}: {images} images of {size / 1e6:.1f} MB")
            project = kit.write(bench.tempdir("memory-"))
            emu.reset()
            try:
                peaks.append(peak_rss_kib(brandkit("build"), project, env))
            finally:
                remove_tree(project)
            if emu.paid_by_provider["runware"] != images:
                raise HarnessError("the memory build did not generate every image once")
    peak_mb = statistics.median(peaks) / 1024
    return [
        Row(
            f"peak RSS: {images} images of {size / 1e6:.1f} MB",
            runs,
            f"{peak_mb:.0f} MB",
            target=f"< {MEMORY_TARGET_MB:.0f} MB",
            result=verdict(peak_mb < MEMORY_TARGET_MB),
            note=f"{MEMORY_MODEL} via runware, 2048x2048 PNG masters, 1 output each",
        )
    ]


# -- figure 6: cutting on every core ----------------------------------------------------------

DERIVE_MASTERS = 2_000  # x 5 outputs = 10,000
DERIVE_MASTER_PX = 256
PARALLEL_TARGET = 0.8  # of cores x the bare loop's rate

# Puts one distinct master per job of a derive kit in the project's cache, as if generated
# (a local-provider render would cost more than the figure), untimed, and prints what the
# peer needs: per job, the blob's path and the outputs to cut (raster); or per output, the
# SVG document brandkit gives resvg for it (svg_render.crop_viewbox: sanitised, framed,
# sized), which the bare loop renders (vector).
DERIVE_SETUP = """
import io, json, sys
from pathlib import Path
from PIL import Image, ImageDraw
from pipeline import workflow
from pipeline.cache import Cache, RecordMeta
from pipeline.project import Project
project, kind, px = Project.at(Path(sys.argv[1])), sys.argv[2], int(sys.argv[3])
loaded = workflow.load(project, {})
base = Image.radial_gradient("L").resize((px, px)).convert("RGB")

def raster(i):
    image = base.copy()
    draw = ImageDraw.Draw(image)
    x, y = i % px, (i // px) * 7 % px
    draw.rectangle((x, y, x + 40, y + 40), fill=(i * 37 % 256, i * 91 % 256, 120))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()

def vector(i):
    shapes = []
    for k in range(60):
        x, y, r = (i * 13 + k * 29) % 100, (i * 7 + k * 17) % 100, 4 + (i + 3 * k) % 18
        colour = f"#{(i * 2654435761 + k * 40503) % 0xFFFFFF:06x}"
        if k % 2:
            shapes.append(f'<circle cx="{x}" cy="{y}" r="{r}" fill="{colour}" opacity="0.8"/>')
        else:
            shapes.append(f'<path d="M{x} {y} Q{x + r} {y - r} {x + 2 * r} {y} '
                          f'T{x + 3 * r} {y + r} L{x} {y + 2 * r} Z" fill="{colour}"/>')
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="1024" '
            'height="1024"><rect width="100" height="100" fill="#F4F1EA"/>'
            + "".join(shapes) + "</svg>").encode()

work = []
with Cache(project.cache_dir) as cache:
    for i, jp in enumerate(workflow.plan(loaded, cache).jobs):
        data = raster(i) if kind == "raster" else vector(i)
        size = (px, px) if kind == "raster" else (1024, 1024)
        meta = RecordMeta(width=size[0], height=size[1], format="png" if kind == "raster"
                          else "svg", provider="local", model=jp.job.model,
                          spec=jp.job.spec.canonical())
        record = cache.put(jp.job.key, data, meta)
        targets = [[t.width, t.height, t.format] for t in jp.job.outputs]
        if kind == "raster":
            work.append([str(cache.blob_path(record.sha256)), targets])
        else:
            from pipeline.svg_render import crop_viewbox
            work += [crop_viewbox(data, w, h).decode() for w, h, _ in targets]
print(json.dumps(work))
"""

# brandkit's cut stage alone: the plan is made first (untimed), then the executor runs it;
# every job's master is cached, so all it does is cut and store every output.
DERIVE_STAGE = """
import asyncio, json, resource, sys, time
from pathlib import Path
from pipeline import workflow
from pipeline.cache import Cache
from pipeline.execute import Executor
from pipeline.project import Project
project = Project.at(Path(sys.argv[1]))
loaded = workflow.load(project, {})
with Cache(project.cache_dir) as cache:
    plan = workflow.plan(loaded, cache)
    executor = Executor(plan, cache, loaded.manifest, project.latest, env={})
    start, cpu_start = time.perf_counter(), time.process_time()
    outcome = asyncio.run(executor.run())
    wall, run_cpu = time.perf_counter() - start, time.process_time() - cpu_start
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"wall": wall, "derived": outcome.derived, "failures": len(outcome.failures),
                  "pooled": executor.realiser.cutter.pooled, "run_cpu": run_cpu,
                  "cpu": me.ru_utime + me.ru_stime, "workers_cpu": kids.ru_utime + kids.ru_stime}))
"""

# The peer: the same crops, Lanczos resizes and encodes (derive.py's settings) with Pillow
# alone, one process, each master decoded once; the outputs are not written anywhere.
BARE_PILLOW = """
import io, json, sys, time
from PIL import Image
work = json.load(sys.stdin)
def fill(src, dst):
    (sw, sh), (dw, dh) = src, dst
    if sw * dh > dw * sh:
        cw = sh * dw / dh
        return ((sw - cw) / 2, 0, (sw + cw) / 2, sh)
    ch = sw * dh / dw
    return (0, (sh - ch) / 2, sw, (sh + ch) / 2)
start, cpu_start = time.perf_counter(), time.process_time()
for path, targets in work:
    with open(path, "rb") as f, Image.open(io.BytesIO(f.read())) as opened:
        image = opened.convert("RGB")
    for w, h, fmt in targets:
        out = image.resize((w, h), Image.Resampling.LANCZOS, box=fill(image.size, (w, h)))
        buffer = io.BytesIO()
        if fmt == "png":
            out.save(buffer, "PNG", compress_level=6)
        else:
            out.save(buffer, "WEBP", quality=90, method=4)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu_start}))
"""


def child_json(script: str, args: list[str], bench: Bench, stdin: str = "") -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        input=stdin,
        cwd=REPO,
        env=bench.env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise HarnessError(f"a figure's child exited {proc.returncode}: {proc.stderr[-600:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def cut_rounds(
    bench: Bench, kit: kits.Kit, kind: str, px: int, peer: str
) -> tuple[float, float, str]:
    """Cache the kit's masters, then time in each round brandkit's cut stage (a fresh copy
    of the project) and the peer script: medians of outputs/s, and a note on CPU."""
    template = kit.write(bench.tempdir(f"{kind}-"))
    say(f"caching {kit.jobs:,} {kind} masters for the {kit.outputs:,}-output figure")
    setup = [sys.executable, "-c", DERIVE_SETUP, str(template), kind, str(px)]
    work = json.dumps(json.loads(run(setup, REPO, bench.env()).stdout))
    stage, bare, cpu, pooled = [], [], [], True
    for i in range(bench.runs):
        say(f"{kind} run {i + 1}/{bench.runs}: {kit.outputs:,} outputs, brandkit and peer")
        project = bench.tempdir(f"{kind}-run-") / "p"
        shutil.copytree(template, project)
        got = child_json(DERIVE_STAGE, [str(project)], bench)
        remove_tree(project)
        if got["derived"] != kit.outputs or got["failures"]:
            raise HarnessError(f"the cut stage derived {got['derived']} of {kit.outputs}")
        pooled = pooled and got["pooled"]
        stage.append(kit.outputs / got["wall"])
        peer_got = child_json(peer, [], bench, work)
        bare.append(kit.outputs / peer_got["wall"])
        per = [got["run_cpu"], got["cpu"], got["workers_cpu"], peer_got["cpu"]]
        cpu.append([c / kit.outputs * 1000 for c in per])
    remove_tree(template)
    run_ms, all_ms, workers_ms, peer_ms = (statistics.median(c[i] for c in cpu) for i in range(4))
    cores = os.cpu_count() or 1
    note = (
        f"CPU per output: brandkit's process {run_ms:.2f} ms in the timed run "
        f"({all_ms:.2f} with the plan), its workers {workers_ms:.2f} ms, the peer "
        f"{peer_ms:.2f} ms; bound by CPU alone, {cores} idle cores would give "
        f"{cores * peer_ms / (run_ms + workers_ms):.2f}x"
        f"{'' if pooled else '; NO process pool started'}"
    )
    return statistics.median(stage), statistics.median(bare), note


def figure_derive(bench: Bench) -> list[Row]:
    masters = DERIVE_MASTERS // 5 if bench.quick else DERIVE_MASTERS
    kit = kits.derive_kit(masters)
    rate, peer, cpu = cut_rounds(bench, kit, "raster", DERIVE_MASTER_PX, BARE_PILLOW)
    return [
        parallel_row(
            f"raster derive: {kit.outputs:,} outputs from {masters:,} masters",
            bench.runs,
            rate,
            peer,
            "bare Pillow loop",
            f"{DERIVE_MASTER_PX} px PNG masters, 5 square png|webp outputs each; the cut stage "
            f"includes storing every output in the cache; {cpu}",
        )
    ]


def parallel_row(label: str, runs: int, rate: float, peer: float, who: str, note: str) -> Row:
    cores = os.cpu_count() or 1
    ratio = rate / peer
    return Row(
        label,
        runs,
        f"{rate:.0f} outputs/s",
        f"{peer:.0f} outputs/s ({who}, 1 process)",
        f"{ratio:.2f}x ({ratio / cores:.2f} x {cores} cores)",
        f">= {PARALLEL_TARGET * cores:.1f}x ({PARALLEL_TARGET} x cores)",
        verdict(ratio >= PARALLEL_TARGET * cores),
        note,
    )


# The peer of the vector figure: resvg (the binding svg_render.py uses, with its options:
# no fonts, relative paths resolved nowhere) rendering each output's framed document to
# a PNG at its exact size, one process, in a loop.
BARE_RESVG = """
import json, sys, time
import resvg
docs = json.load(sys.stdin)
options = resvg.usvg.Options.default()
options.resources_dir = "/nonexistent/brandkit-renders-read-nothing"
start, cpu_start = time.perf_counter(), time.process_time()
for doc in docs:
    resvg.render(resvg.usvg.Tree.from_str(doc, options), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu_start}))
"""
VECTOR_MASTERS = 200  # x 5 outputs = 1,000


def figure_vector(bench: Bench) -> list[Row]:
    if not (REPO / "pipeline" / "svg_render.py").exists():
        return [
            Row(
                "vector render: 1,000 outputs",
                "-",
                "-",
                result="SKIP",
                note="pipeline/svg_render.py (the renderer) is not in this checkout",
            )
        ]
    kit = kits.derive_kit(VECTOR_MASTERS)
    rate, peer, cpu = cut_rounds(bench, kit, "vector", DERIVE_MASTER_PX, BARE_RESVG)
    return [
        parallel_row(
            f"vector render: {kit.outputs:,} outputs from {VECTOR_MASTERS} SVG masters",
            bench.runs,
            rate,
            peer,
            "bare resvg loop",
            "60-shape SVG masters, 5 square png|webp outputs each; brandkit also sanitises, "
            "frames, encodes and stores each output, resvg in its svg_worker process; "
            f"the peer renders the same framed documents; {cpu}",
        )
    ]


# -- the run ---------------------------------------------------------------------------------


def remove_tree(path: Path) -> None:
    """Delete a project, published versions (read-only) included."""

    def retry(func: Callable[..., Any], name: str, *_: Any) -> None:
        os.chmod(os.path.dirname(name), 0o755)
        if os.path.isdir(name):
            os.chmod(name, 0o755)
        func(name)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


def header(bench: Bench) -> list[str]:
    version = run(brandkit("--version"), REPO, bench.env()).stdout.strip().split()[-1]
    where = run(
        [sys.executable, "-c", "import pipeline; print(pipeline.__file__)"], REPO, bench.env()
    ).stdout.strip()
    lines = [
        f"date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"python    {platform.python_version()} ({sys.executable})",
        f"cpus      {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"brandkit  {version} (from {Path(where).parent})",
    ]
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    if git.returncode == 0:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        lines.append(
            f"git       {git.stdout.strip()}" + (" + uncommitted changes" if dirty else "")
        )
    lines.append(
        f"runs      median of {bench.runs} per figure unless the N column says "
        f"otherwise{' (--quick)' if bench.quick else ''}"
    )
    return lines


FIGURE_FUNCS: dict[str, Callable[[Bench], list[Row]]] = {
    "startup": figure_startup,
    "noop": figure_noop,
    "change": figure_change,
    "throughput": figure_throughput,
    "memory": figure_memory,
    "derive": figure_derive,
    "vector": figure_vector,
}
TABLE_ORDER = ("noop", "change", "throughput", "memory", "derive", "vector", "startup")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="brandkit benchmarks (see bench/README.md)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 runs per figure (1 for throughput), 200 jobs / images",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES,
        metavar="NAME",
        help=f"only these figures: {', '.join(FIGURES)}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--kit-dir",
        type=Path,
        metavar="DIR",
        help="keep the built no-op kits in DIR and reuse them next time "
        "(saves their first build; default: build them afresh in a temp dir)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = args.only or list(FIGURES)
    started = time.perf_counter()
    bench = Bench(
        quick=args.quick,
        root=Path(tempfile.mkdtemp(prefix="brandkit-bench-")),
        kit_dir=args.kit_dir.resolve() if args.kit_dir else None,
    )
    results: dict[str, list[Row]] = {}
    failed = False
    try:
        for line in header(bench):
            print(line, flush=True)
        warm_bytecode(bench)
        for name in FIGURES:  # start-up first: it is the most sensitive to a busy machine
            if name not in selected:
                continue
            say(f"figure {name}")
            try:
                results[name] = FIGURE_FUNCS[name](bench)
            except Exception as exc:  # report it in the table, go on with the others
                failed = True
                traceback.print_exc(file=sys.stderr)
                results[name] = [Row(name, "-", "-", result="ERROR", note=str(exc)[:300])]
    finally:
        if args.keep:
            say(f"kept {bench.root}")
        else:
            remove_tree(bench.root)
    print()
    print_table([row for name in TABLE_ORDER for row in results.get(name, [])])
    for note in bench.notes:
        print(f"note: {note}")
    print(f"wall time of this run: {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Cutting on every core (cutpool.py): outputs cut in worker processes are the bytes
derive makes in process; a cut that fails in a worker names its output; no build leaves
a worker process or a half-written file behind, interrupted or not; a no-op build starts
no process at all."""

from __future__ import annotations

import asyncio
import concurrent.futures.process
import dataclasses
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import pipeline.cutpool
import pipeline.derive
from pipeline import workflow
from pipeline.cache import Cache
from pipeline.execute import Executor
from pipeline.project import Project
from pipeline.results import Outcome
from tests.conftest import Run, wait_until, write_manifest

pytestmark = pytest.mark.skipif(
    pipeline.cutpool.cpu_workers() < 2, reason="one core: cuts run in a thread, no pool"
)


def manifest(assets: int = 2, model: str = "recraft-v4") -> str:
    rows = "".join(
        f"  a{i}: {{prompt: 'thing {i}', sizes: ['1:1', '16:9', '64x64', '300x100'], "
        f"formats: [png, webp, jpg]}}\n"
        for i in range(assets)
    )
    return (
        "kit: {name: t}\nbrand: {name: Acme, colors: {ink: '#112233', sky: '#7FA7C9'}}\n"
        f"defaults: {{provider: local, model: {model}, palette: [ink, sky]}}\n"
        f"assets:\n{rows}"
    )


OUTPUTS = 2 * 4 * 3  # of manifest(): 2 assets, 4 sizes, 3 formats


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ProcessPoolExecutor]]:
    """Every process pool brandkit starts, from the first output cut (POOL_FROM = 1)."""
    started: list[ProcessPoolExecutor] = []

    class Recorded(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(concurrent.futures.process, "ProcessPoolExecutor", Recorded)
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", 1)
    yield started
    assert_no_worker_left()


def worker_pids(parent: int | None = None) -> list[int]:
    """The child processes of `parent` (this process by default) that are multiprocessing
    workers (read from /proc: the resource tracker, also a child, is not one)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid"))
        if int(ppid) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def assert_no_worker_left() -> None:
    assert multiprocessing.active_children() == []
    if Path("/proc/self/status").exists():
        assert worker_pids() == []


def tree(project: Path) -> dict[str, bytes]:
    latest = project / "dist" / "latest"
    return {
        p.relative_to(latest).as_posix(): p.read_bytes()
        for p in sorted(latest.rglob("*"))
        if p.is_file() and p.parent != latest  # the outputs, not index.json or the sheet
    }


@pytest.mark.slow  # two builds, one starting a pool: ~4 s on an idle 2-core machine
@pytest.mark.parametrize("model", ["recraft-v4", "recraft-v4-vector"])
def test_outputs_cut_in_worker_processes_are_the_bytes_derive_makes_in_process(
    run: Run,
    tmp_path: Path,
    pools: list[ProcessPoolExecutor],
    monkeypatch: pytest.MonkeyPatch,
    model: str,
) -> None:
    """Raster masters (decoded once per task) and vector ones (rendered in one batch)."""
    pooled, threaded = tmp_path / "pooled", tmp_path / "threaded"
    write_manifest(pooled, manifest(model=model))
    write_manifest(threaded, manifest(model=model))
    code, _, err = run(pooled, "build")
    assert code == 0, err
    assert len(pools) == 1, "one pool for the whole build"
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", 10**9)  # in a thread, in process
    code, _, err = run(threaded, "build")
    assert code == 0, err
    assert len(pools) == 1, "the second build cut in process"
    cut = tree(pooled)
    assert len(cut) == OUTPUTS
    assert cut == tree(threaded)


def executor(tmp_path: Path, bad: str | None = None) -> tuple[Executor, Path]:
    """An executor over a fresh project; output `bad` is given a format derive refuses."""
    write_manifest(tmp_path, manifest())
    project = Project.at(tmp_path)
    loaded = workflow.load(project, {})
    cache = Cache(project.cache_dir)
    plan = workflow.plan(loaded, cache)
    for jp in plan.jobs:
        for i, op in enumerate(jp.outputs):
            if op.target.path == bad:
                target = dataclasses.replace(op.target, format="bmp")
                jp.outputs[i] = dataclasses.replace(op, target=target)
    return Executor(plan, cache, loaded.manifest, project.latest, env={}), project.cache_dir


def half_written(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_a_cut_that_fails_in_a_worker_names_its_output_and_leaves_nothing_behind(
    tmp_path: Path, pools: list[ProcessPoolExecutor]
) -> None:
    ex, cache_dir = executor(tmp_path, bad="a1/a1-16x9.webp")
    try:
        outcome = asyncio.run(ex.run())
    finally:
        ex.cache.close()
    assert len(pools) == 1
    (failure,) = outcome.failures
    assert failure.message.startswith(
        "a1/a1-16x9.webp: could not be cut from its master image (ValueError: unsupported "
        "output format 'bmp'"
    ), failure.message
    assert len(outcome.records) == OUTPUTS - 2, "the failed job's other outputs are cut"
    assert half_written(cache_dir) == []
    assert_no_worker_left()


def test_a_no_op_build_starts_no_process(
    run: Run, tmp_path: Path, pools: list[ProcessPoolExecutor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", 10**9)  # the first build: in process
    write_manifest(tmp_path, manifest())
    code, _, err = run(tmp_path, "build")
    assert code == 0, err
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", 1)
    code, _, err = run(tmp_path, "build")
    assert code == 0, err
    assert pools == [], "nothing to cut: no pool"
    assert worker_pids() == []


def test_a_small_build_cuts_in_process(
    run: Run, tmp_path: Path, pools: list[ProcessPoolExecutor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below POOL_FROM outputs, a pool's start-up would cost more than it saves."""
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", OUTPUTS + 1)
    write_manifest(tmp_path, manifest())
    code, _, err = run(tmp_path, "build")
    assert code == 0, err
    assert pools == []


def test_a_build_that_plans_enough_outputs_cuts_none_in_process(
    run: Run, tmp_path: Path, pools: list[ProcessPoolExecutor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first masters are not cut in threads while the pool waits for POOL_FROM."""
    monkeypatch.setattr(pipeline.cutpool, "POOL_FROM", OUTPUTS)  # more than one master has
    cuts: list[str] = []
    real = pipeline.derive.derive
    monkeypatch.setattr(
        pipeline.derive, "derive", lambda *a, **k: cuts.append(a[3]) or real(*a, **k)
    )
    write_manifest(tmp_path, manifest())
    code, _, err = run(tmp_path, "build")
    assert code == 0, err
    assert len(pools) == 1
    assert cuts == [], "every output was cut in the pool, none in brandkit's process"


def test_cancelling_the_build_shuts_the_pool_down(
    tmp_path: Path, pools: list[ProcessPoolExecutor]
) -> None:
    ex, cache_dir = executor(tmp_path)

    async def cancel_once_cutting() -> Outcome | None:
        task = asyncio.ensure_future(ex.run())
        deadline = time.monotonic() + 120
        while not (pools and worker_pids()) and not task.done():
            assert time.monotonic() < deadline, "no pool started"
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            return None

    try:
        asyncio.run(cancel_once_cutting())
    finally:
        ex.cache.close()
    assert len(pools) == 1
    assert_no_worker_left()
    assert half_written(cache_dir) == []


@pytest.mark.slow  # a real build killed mid-cut: ~5 s
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_killed_build_leaves_no_worker_holding_its_output_open(tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, a cancelled CI job) gives brandkit no chance to shut its
    pool down: the workers notice and end, so the build's pipes close (a CI step waits
    for them) and nothing keeps running."""
    write_manifest(tmp_path, manifest(assets=12))  # 144 outputs: the pool starts at once
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDKIT_")}
    build = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "-C", str(tmp_path), "build"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        wait_until(
            lambda: worker_pids(build.pid) or build.poll() is not None,
            message="the build never started its pool",
        )
        workers = worker_pids(build.pid)
        assert workers, "the build ended before its pool was seen"
        build.kill()
        build.communicate(timeout=30)  # returns once no worker holds stdout/stderr
    finally:
        build.kill()
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
        timeout=30,
        message=f"pool workers {workers} outlived the killed build",
    )

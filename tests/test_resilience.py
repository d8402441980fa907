"""Never pay twice, never lose work: real `brandkit build` processes, killed and raced.

Each test runs the CLI as a subprocess against the loopback emulator, as a user or a CI
job would, and checks what a SIGKILL, a Ctrl-C or a second build at the same moment
leaves behind: whole files only, a lock that matches them, and no image paid for twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.lockfile import read_lock
from tests.conftest import KEY_VARS, assert_published_tree, journal, wait_until, write_manifest
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
FLAVOURS = ["earl-grey", "sencha", "rooibos", "oolong"]
SEASONS = ["spring", "summer", "autumn", "winter"]


pytestmark = pytest.mark.slow  # real processes killed at random moments: minutes


def manifest(provider: str) -> str:
    palette = "" if provider == "pixeldojo" else "  palette: [ink]\n"
    return (
        f"kit: {{name: resilient}}\nbrand: {{name: Acme, colors: {{ink: '#224466'}}}}\n"
        f"defaults:\n  provider: {provider}\n  model: recraft-v4\n{palette}"
        "assets:\n  card:\n    prompt: '{{ flavour }} tea in {{ season }}'\n"
        f"    matrix: {{flavour: {FLAVOURS}, season: {SEASONS}}}\n"
        "    sizes: ['1:1', '64x64']\n"
    )


DISTINCT_JOBS = len(FLAVOURS) * len(SEASONS)


def env_for(emulator: Emulator) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BRANDKIT_RETRY_BASE": "0.02",
        "BRANDKIT_POLL_INTERVAL": "0.05",
        "CI": "1",
    }
    for provider, variables in KEY_VARS.items():
        env.update(variables)
        env[f"BRANDKIT_{provider.upper()}_URL"] = emulator.base_url(provider)
    return env


def start(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "-C", str(project), "build", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def assert_nothing_half_written(project: Path) -> None:
    """What a reader (or the next build) would take for whole is whole."""
    read_lock(project / "brandkit.lock")  # parses, or raises
    blobs = project / ".brandkit" / "blobs"
    for blob in blobs.glob("*/*") if blobs.is_dir() else []:
        if not blob.name.startswith("."):
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    dist = project / "dist"
    for version in dist.glob("v*") if dist.is_dir() else []:
        index = json.loads((version / "index.json").read_text())
        for o in index["outputs"]:
            data = (version / o["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == o["sha256"]


def uncollectable(project: Path) -> list[dict]:
    """Journal entries of jobs sent without an id to find them by (so may be lost)."""
    entries = journal(project).values()
    return [e for e in entries if not (e.get("taskUUID") or e.get("statusUrl"))]


def assert_final_state(project: Path) -> None:
    lock = read_lock(project / "brandkit.lock")
    assert len(lock) == 2 * DISTINCT_JOBS
    for path, entry in lock.items():
        data = (project / "dist" / "latest" / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert_published_tree(project)
    assert not (project / ".brandkit" / "journal.jsonl").exists(), "journal emptied"


@pytest.mark.parametrize("provider", ["runware", "pixeldojo", "cloudflare"])
def test_sigkill_at_random_moments_loses_nothing_paid(
    tmp_path: Path, emulator: Emulator, provider: str
) -> None:
    emulator.latency = 0.25
    project = tmp_path / "p"
    write_manifest(project, manifest(provider))
    env = env_for(emulator)
    rng = random.Random(f"brandkit-{provider}")  # reproducible moments
    at_risk: set[tuple[str, float]] = set()  # (key, since): attempts sent without an id
    for _ in range(20):
        proc = start(project, env, "-j", "4")
        time.sleep(rng.uniform(0.05, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        at_risk |= {(e["key"], e["since"]) for e in uncollectable(project)}
        assert_nothing_half_written(project)
    proc = start(project, env, "-j", "4")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert_nothing_half_written(project)
    assert_final_state(project)
    paid = emulator.paid_by_provider.get(provider, 0)
    if provider == "runware":  # the task UUID is journaled before sending: never paid twice
        assert paid == DISTINCT_JOBS, err
    else:
        # PixelDojo's jobId exists only once it has accepted (and charged) the job, and
        # a synchronous provider's request can't be found again at all: what was sent
        # but unanswered at a kill is at risk, and the journal says exactly how many.
        # (the journal notes the intent before sending, so it is an upper bound)
        assert DISTINCT_JOBS <= paid <= DISTINCT_JOBS + len(at_risk), (paid, len(at_risk))


def test_two_builds_at_once_generate_each_job_once(tmp_path: Path, emulator: Emulator) -> None:
    emulator.latency = 0.1
    project = tmp_path / "p"
    write_manifest(project, manifest("runware"))
    env = env_for(emulator)
    first, second = start(project, env), start(project, env)
    (out1, err1), (out2, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert "waiting for another build of this project (pid" in err1 + err2
    assert emulator.paid_by_provider["runware"] == DISTINCT_JOBS
    assert sorted([out1, out2])[0].startswith("generated 0")  # the waiter found it all cached
    assert_final_state(project)


def test_no_wait_fails_fast_while_another_build_runs(tmp_path: Path, emulator: Emulator) -> None:
    emulator.latency = 0.5
    project = tmp_path / "p"
    write_manifest(project, manifest("runware"))
    env = env_for(emulator)
    first = start(project, env)
    wait_until(
        lambda: (project / ".brandkit" / "build.lock").exists(),
        timeout=60,
        message="the first build never took the build lock",
    )
    time.sleep(0.3)
    second = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), "build", "--no-wait"],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert "another build of this project is running (pid" in second.stderr
    # plan and status never wait for the lock
    status = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), "status"],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert status.returncode == 0
    first.communicate(timeout=120)
    assert first.returncode == 0


def test_ctrl_c_stops_cleanly_and_the_rerun_pays_only_for_the_rest(
    tmp_path: Path, emulator: Emulator
) -> None:
    emulator.latency = 0.4
    project = tmp_path / "p"
    write_manifest(project, manifest("runware"))
    env = env_for(emulator)
    proc = start(project, env, "-j", "4")
    wait_until(
        lambda: emulator.paid_by_provider.get("runware", 0) >= 6 or proc.poll() is not None,
        message="the build never paid for 6 jobs",
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and "nothing published" in last
    assert "Traceback" not in err
    assert not (project / "dist").exists()
    in_flight = int(re.search(r"(\d+) in flight to collect", last).group(1))  # type: ignore[union-attr]
    proc = start(project, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert emulator.paid_by_provider["runware"] == DISTINCT_JOBS
    if in_flight:  # the summary tells those apart from what this build paid for
        assert f"({in_flight} collected from an earlier build)" in out, out
    else:
        assert "collected" not in out, out
    assert_final_state(project)


def test_a_paid_job_whose_asset_changed_is_still_collected(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Killed mid-flight, then the manifest changes: the paid image is kept for a revert."""
    emulator.latency = 1.0
    project = tmp_path / "p"
    text = manifest("runware")
    write_manifest(project, text)
    env = env_for(emulator)
    proc = start(project, env, "-j", "16")
    wait_until(
        lambda: (
            emulator.paid_by_provider.get("runware", 0) >= DISTINCT_JOBS or proc.poll() is not None
        ),
        message=f"the build never paid for all {DISTINCT_JOBS} jobs",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert len(journal(project)) == DISTINCT_JOBS
    write_manifest(project, text.replace("tea in", "tisane in"))  # every key changes
    emulator.latency = 0.0
    proc = start(project, env)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    write_manifest(project, text)  # revert: everything was collected, nothing to pay
    paid = emulator.paid_by_provider["runware"]
    proc = start(project, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith("generated 0"), out
    assert emulator.paid_by_provider["runware"] == paid


def test_a_build_clears_what_a_killed_download_left(tmp_path: Path, emulator: Emulator) -> None:
    """A SIGKILL mid-transfer leaves a `.part` file in the cache's tmp folder; the next
    build (holding the build lock, so no other download is writing there) removes it."""
    project = tmp_path / "p"
    write_manifest(project, manifest("runware"))
    tmp = project / ".brandkit" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "dl-abc123.part").write_bytes(b"\x89PNG half an image")
    (tmp / "keep.txt").write_text("not ours")
    proc = start(project, env_for(emulator))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in tmp.iterdir()) == ["keep.txt"]

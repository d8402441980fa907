"""Candidates keep the build's guarantees (issue 15): a build killed at random moments
and resumed pays for every candidate exactly once (the journal holds each candidate's
task under its own key), and two builds at once generate each candidate once (the build
lock). Real `brandkit build` processes against the loopback emulator."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from pipeline.lockfile import read_lock
from tests.conftest import assert_published_tree, write_manifest
from tests.emulator import Emulator
from tests.test_resilience import assert_nothing_half_written, env_for, start

pytestmark = pytest.mark.slow  # real processes, killed: tens of seconds

FLAVOURS = ["earl-grey", "sencha", "rooibos"]
CANDIDATES = 3


def manifest() -> str:
    return (
        "kit: {name: cands}\nbrand: {name: Acme, colors: {ink: '#224466'}}\n"
        "defaults:\n  provider: runware\n  model: recraft-v4\n  palette: [ink]\n"
        f"  candidates: {CANDIDATES}\n"
        "assets:\n  card:\n    prompt: '{{ flavour }} tea'\n"
        f"    matrix: {{flavour: {FLAVOURS}}}\n"
        "    sizes: ['1:1', '64x64']\n"
    )


def assert_whole(project: Path) -> None:
    lock = read_lock(project / "brandkit.lock")
    assert len(lock) == 2 * len(FLAVOURS)
    assert {(e.candidate, e.candidates) for e in lock.values()} == {(1, CANDIDATES)}
    assert_published_tree(project)
    assert not (project / ".brandkit" / "journal.jsonl").exists(), "journal emptied"


def test_killed_builds_with_candidates_pay_each_candidate_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    emulator.latency = 0.25
    project = tmp_path / "p"
    write_manifest(project, manifest())
    env = env_for(emulator)
    rng = random.Random("brandkit-candidates")
    for _ in range(8):
        proc = start(project, env, "-j", "3")
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert_nothing_half_written(project)
    proc = start(project, env, "-j", "3")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert emulator.paid_by_provider["runware"] == len(FLAVOURS) * CANDIDATES, err
    assert_whole(project)


def test_two_builds_at_once_generate_each_candidate_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    emulator.latency = 0.1
    project = tmp_path / "p"
    write_manifest(project, manifest())
    env = env_for(emulator)
    first, second = start(project, env), start(project, env)
    (_, err1), (_, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert emulator.paid_by_provider["runware"] == len(FLAVOURS) * CANDIDATES
    assert_whole(project)

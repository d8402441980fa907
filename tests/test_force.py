"""--force pays again; when the provider answers with the very bytes dist/latest holds,
nothing new is published and the lock keeps describing what is published."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Run, project
from tests.emulator import Emulator


def test_a_forced_rebuild_with_the_same_bytes_and_a_new_seed_keeps_the_lock_as_published(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "runware")  # the emulator: bytes by prompt, a new seed per task
    assert run(p, "build")[0] == 0
    lock = (p / "brandkit.lock").read_bytes()
    paid = remote.paid_generations
    code, out, err = run(p, "build", "--force")  # Run checks the lock against index.json
    assert code == 0, err
    assert remote.paid_generations == 2 * paid, "--force generates every job again"
    assert "no changes, no new version" in out
    assert (p / "brandkit.lock").read_bytes() == lock
    assert sorted(x.name for x in (p / "dist").glob("v*")) == ["v0001"]
    seeds = [json.loads(line)["seed"] for line in lock.decode().splitlines()[1:] if line]
    assert all(isinstance(seed, int) for seed in seeds), "the first build's seeds, as published"

"""Planning trusts the lock for what dist/latest holds only when the last publish vouched
for that very lock; any other lock (an older one checked out from git, a hand edit) is
checked against dist/latest's index as before."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.lockfile import lock_digest, read_lock
from tests.conftest import Run


def edit_colour(project: Path) -> tuple[str, str]:
    manifest = project / "brandkit.yaml"
    text = manifest.read_text()
    colour = re.search(r'"(#[0-9A-Fa-f]{6})"', text)
    assert colour is not None
    old = colour.group(1)
    new = "#000001" if old.upper() != "#000001" else "#000002"
    manifest.write_text(text.replace(old, new, 1))
    return old, new


def test_a_publish_vouches_for_its_lock(run: Run, built_sample: Path) -> None:
    vouched = json.loads((built_sample / ".brandkit" / "published.json").read_text())
    assert vouched["version"] == "v0001"
    assert vouched["lock_sha256"] == lock_digest((built_sample / "brandkit.lock").read_bytes())
    lock = read_lock(built_sample / "brandkit.lock")
    latest = built_sample / "dist" / "latest"
    assert all(e.size == (latest / p).stat().st_size for p, e in lock.items())


def test_a_plan_does_not_need_the_index_when_the_lock_is_vouched_for(
    run: Run, built_sample: Path
) -> None:
    index = built_sample / "dist" / "latest" / "index.json"
    saved = index.read_bytes()
    index.chmod(0o644)
    index.write_text("not json")  # unreadable: only the lock can say what is published
    try:
        jobs = run.json(built_sample, "plan")["jobs"]
        assert {j["status"] for j in jobs} == {"reuse"}
    finally:
        index.write_bytes(saved)
    edit_colour(built_sample)
    reasons = {
        j["reason"] for j in run.json(built_sample, "plan")["jobs"] if j["status"] == "generate"
    }
    assert reasons == {"colour deep-sea #0F3B4C -> #000001"}, "the old request: the cached master"


def test_an_older_lock_checked_out_is_not_trusted(run: Run, built_sample: Path) -> None:
    """v1 is built, the manifest changes and v2 is built; then the v1 manifest and lock
    come back (a git checkout). dist/latest is v2, so the lock must not be believed."""
    manifest, lock = built_sample / "brandkit.yaml", built_sample / "brandkit.lock"
    v1 = (manifest.read_bytes(), lock.read_bytes())
    edit_colour(built_sample)
    code, out, err = run(built_sample, "build")
    assert code == 0, err
    assert "published dist/v0002" in out
    manifest.write_bytes(v1[0])
    lock.write_bytes(v1[1])
    code, out, err = run(built_sample, "build")
    assert code == 0, err
    assert "generated 0" in out, "every v1 image is still cached"
    assert "published dist/v0003" in out
    latest = built_sample / "dist" / "latest"
    for path, entry in read_lock(lock).items():
        assert (latest / path).stat().st_size == entry.size
    assert run(built_sample, "status", "--check")[0] == 0


def test_a_hand_edited_lock_is_checked_against_the_index(run: Run, built_sample: Path) -> None:
    """An entry whose hash no longer matches what dist/latest published (same size) is not
    counted as published: the lock is no longer the one the last publish vouched for."""
    lock = built_sample / "brandkit.lock"
    lines = lock.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["sha256"] = "0" * 64
    lock.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    sources = {
        o["path"]: o["source"] for j in run.json(built_sample, "plan")["jobs"] for o in j["outputs"]
    }
    assert sources[edited["path"]] == "cache"
    assert {s for p, s in sources.items() if p != edited["path"]} == {"published"}
    code, out, err = run(built_sample, "build")
    assert code == 0 and "generated 0" in out, err
    assert read_lock(lock)[edited["path"]].sha256 != "0" * 64

"""The lock records candidates and approval per output line (DESIGN "Candidates, review
and approval"), merge-friendly, and unchanged for kits that use neither."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.errors import BrandkitError
from pipeline.lockfile import read_lock, render_lock, write_lock
from tests.test_lockfile import entry

APPROVED = "c" * 64


def test_a_lock_without_candidates_is_written_exactly_as_before() -> None:
    line = render_lock({"a.png": entry("a.png")}).decode().splitlines()[1]
    assert list(json.loads(line)) == [
        "path", "key", "sha256", "width", "height", "format", "provider", "model", "seed",
        "cost_usd", "credits", "size",
    ]  # fmt: skip


def test_candidate_fields_round_trip_in_a_fixed_order(tmp_path: Path) -> None:
    chosen = replace(entry("a.png"), candidate=2, candidates=3, approved_key=APPROVED)
    write_lock(tmp_path / "brandkit.lock", {"a.png": chosen})
    assert read_lock(tmp_path / "brandkit.lock") == {"a.png": chosen}
    line = (tmp_path / "brandkit.lock").read_text().splitlines()[1]
    assert list(json.loads(line))[-3:] == ["candidate", "candidates", "approved_key"]


def test_the_parsed_copy_keeps_the_candidate_fields(tmp_path: Path) -> None:
    chosen = replace(entry("a.png"), candidate=3, candidates=3)
    write_lock(tmp_path / "brandkit.lock", {"a.png": chosen})
    parsed = tmp_path / "parsed"
    assert read_lock(tmp_path / "brandkit.lock", parsed) == {"a.png": chosen}
    assert read_lock(tmp_path / "brandkit.lock", parsed) == {"a.png": chosen}, "from the copy"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"candidate": 0}, "1 <= candidate"),
        ({"candidate": 3, "candidates": 2}, "1 <= candidate"),
        ({"candidates": 9, "candidate": 1}, "<= 8"),
        ({"candidate": True}, "integers"),
        ({"approved_key": "abc"}, "approved_key"),
        ({"approved_key": "C" * 64}, "approved_key"),
    ],
)
def test_a_damaged_candidate_field_is_an_error_naming_the_line(
    tmp_path: Path, fields: dict, says: str
) -> None:
    lines = render_lock({"a.png": entry("a.png")}).decode().splitlines()
    row = {**json.loads(lines[1]), **fields}
    (tmp_path / "brandkit.lock").write_text(lines[0] + "\n" + json.dumps(row) + "\n")
    with pytest.raises(BrandkitError) as caught:
        read_lock(tmp_path / "brandkit.lock")
    assert "brandkit.lock:2:" in str(caught.value) and says in str(caught.value)


def test_two_branches_approving_different_assets_merge_without_conflict(tmp_path: Path) -> None:
    """One sorted line per output: approvals on two branches touch different lines."""
    repo = tmp_path / "kit"
    repo.mkdir()
    outputs = {p: entry(p) for p in ("hero/a.png", "hero/b.png", "logo/a.png", "logo/b.png")}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    def approve(prefix: str) -> dict:
        return {
            p: replace(e, approved_key=APPROVED) if p.startswith(prefix) else e
            for p, e in outputs.items()
        }

    git("init", "-q", "-b", "main")
    write_lock(repo / "brandkit.lock", outputs)
    git("add", "."), git("commit", "-qm", "base")
    git("checkout", "-qb", "hero")
    write_lock(repo / "brandkit.lock", approve("hero/"))
    git("commit", "-qam", "approve hero")
    git("checkout", "-q", "main")
    write_lock(repo / "brandkit.lock", approve("logo/"))
    git("commit", "-qam", "approve logo")
    git("merge", "-q", "--no-edit", "hero")
    merged = read_lock(repo / "brandkit.lock")
    assert all(e.approved_key == APPROVED for e in merged.values()), "both approvals kept"
    assert "<<<<<<<" not in (repo / "brandkit.lock").read_text()


def test_the_lock_layout_blank_lines_fall_between_folders_only() -> None:
    paths = ("top.png", "z.ico", "hero/a.png", "hero/b/c.png", "logo/a.png")
    lines = render_lock({p: entry(p) for p in paths}).decode().split("\n")
    shape = [json.loads(line)["path"] if line else "" for line in lines[1:]]
    assert shape == ["hero/a.png", "hero/b/c.png", "", "logo/a.png", "", "top.png", "z.ico", ""]

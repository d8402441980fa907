"""brandkit.lock: sorted JSON lines, so a change to one output is a one-line diff."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.errors import BrandkitError
from pipeline.lockfile import LockEntry, read_lock, render_lock, write_lock


def entry(path: str, sha: str = "a" * 64) -> LockEntry:
    return LockEntry(
        path=path,
        key="k" * 64,
        sha256=sha,
        width=10,
        height=10,
        format="png",
        provider="local",
        model="recraft-v4",
        seed=1,
        cost_usd=0.0,
        credits=None,
        size=10,
    )


def test_roundtrip_and_order(tmp_path: Path) -> None:
    entries = {p: entry(p) for p in ("b/x.png", "a/y.png", "a/x.png")}
    lock = tmp_path / "brandkit.lock"
    assert write_lock(lock, entries)
    assert read_lock(lock) == entries
    rows = filter(None, lock.read_text().splitlines()[1:])  # blank lines between folders
    paths = [line.split('"path": "')[1].split('"')[0] for line in rows]
    assert paths == ["a/x.png", "a/y.png", "b/x.png"]
    assert not write_lock(lock, dict(reversed(entries.items()))), "same content: no write"


def test_changing_one_output_changes_one_line() -> None:
    entries = {f"asset/{i:03d}.png": entry(f"asset/{i:03d}.png") for i in range(50)}
    before = render_lock(entries).decode().splitlines()
    entries["asset/025.png"] = replace(entries["asset/025.png"], sha256="b" * 64)
    after = render_lock(entries).decode().splitlines()
    assert [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y] == [26]


def test_adding_an_output_touches_no_other_line() -> None:
    entries = {"a.png": entry("a.png"), "c.png": entry("c.png")}
    before = render_lock(entries).decode().splitlines()
    entries["b.png"] = entry("b.png")
    after = render_lock(entries).decode().splitlines()
    assert [line for line in after if line not in before] == [after[2]]


def test_damaged_lock_is_a_clear_error(tmp_path: Path) -> None:
    lock = tmp_path / "brandkit.lock"
    lock.write_text('{"brandkit_lock": 1}\n{"path": "a.png", "oops"\n')
    with pytest.raises(BrandkitError, match=r"brandkit.lock:2: not a valid lock entry"):
        read_lock(lock)


def test_absent_lock_is_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "nope.lock") == {}


def test_a_parsed_copy_answers_for_that_lock_only(tmp_path: Path) -> None:
    """The marshalled copy gives the same entries, and never outlives the lock it was made
    from: an edited lock is parsed again, a damaged copy is ignored, a damaged lock is
    still an error."""
    lock, parsed = tmp_path / "brandkit.lock", tmp_path / "lock.parsed"
    entries = {p: entry(p) for p in ("a/x.png", "b/y.png")}
    write_lock(lock, entries)
    assert read_lock(lock, parsed) == entries
    assert parsed.exists()
    assert read_lock(lock, parsed) == entries  # from the copy

    edited = {**entries, "a/x.png": entry("a/x.png", sha="b" * 64)}
    write_lock(lock, edited)
    assert read_lock(lock, parsed) == edited
    assert read_lock(lock, parsed) == edited

    for damage in (b"", parsed.read_bytes()[:-7], parsed.read_bytes() + b"\xff", b"\x00" * 90):
        parsed.write_bytes(damage)
        assert read_lock(lock, parsed) == edited

    good = lock.read_text()
    lock.write_text(good + "{oops\n")  # line 5: header, a/x, blank, b/y, this
    with pytest.raises(BrandkitError, match=r"brandkit.lock:5: not a valid lock entry"):
        read_lock(lock, parsed)
    lock.write_text(good.replace('"width": 10', '"width": "ten"', 1))  # valid JSON, wrong type
    with pytest.raises(BrandkitError, match=r"brandkit.lock:2: not a valid lock entry \(width"):
        read_lock(lock, parsed)
    lock.write_bytes(b"\xff\xfe")
    with pytest.raises(BrandkitError, match="not UTF-8"):
        read_lock(lock, parsed)

"""brandkit.lock guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/lockfile.py
that the other unit tests let through."""

from __future__ import annotations

import json
import marshal
import os
from pathlib import Path

import pytest

from pipeline import lockfile
from pipeline.errors import BrandkitError
from pipeline.lockfile import (
    LockEntry,
    finite,
    lock_digest,
    read_lock,
    render_lock,
    whole,
    write_lock,
)

HEADER = '{"brandkit_lock": 2, "note": "x"}'


def row(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "path": "logo/icon.png",
        "key": "k" * 64,
        "sha256": "a" * 64,
        "width": 10,
        "height": 20,
        "format": "png",
        "provider": "local",
        "model": "m",
        "seed": 7,
        "cost_usd": 0.5,
        "credits": None,
        "size": 123,
    }
    item.update(changes)
    return item


def lock_with(tmp_path: Path, *lines: str) -> Path:
    lock = tmp_path / "brandkit.lock"
    lock.write_text("\n".join((HEADER, *lines)) + "\n")
    return lock


def read_one(tmp_path: Path, line: str) -> LockEntry:
    entries = read_lock(lock_with(tmp_path, line))
    assert len(entries) == 1
    return next(iter(entries.values()))


# -- the parsed (marshal) copy ---------------------------------------------------------


def written_lock_and_copy(tmp_path: Path) -> tuple[Path, Path, dict[str, LockEntry]]:
    lock, parsed = lock_with(tmp_path, json.dumps(row())), tmp_path / "lock.parsed"
    entries = read_lock(lock, parsed)
    return lock, parsed, entries


def test_a_fresh_parsed_copy_answers_without_parsing_the_lock_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, parsed, entries = written_lock_and_copy(tmp_path)
    assert parsed.read_bytes().startswith(f"{lock_digest(lock.read_bytes())} ".encode())
    monkeypatch.setattr(lockfile, "_parse", lambda *a: pytest.fail("parsed the lock again"))
    assert read_lock(lock, parsed) == entries


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe", marshal.dumps([("only-a-path",)]), marshal.dumps(42)],
    ids=["bad-marshal-ValueError", "short-rows-TypeError", "not-rows-TypeError"],
)
def test_a_parsed_copy_with_the_right_header_but_bad_rows_is_parsed_again(
    tmp_path: Path, payload: bytes
) -> None:
    lock, parsed, entries = written_lock_and_copy(tmp_path)
    saved = parsed.read_bytes()
    header = saved[: saved.index(b"\n") + 1]
    parsed.write_bytes(header + payload)
    assert read_lock(lock, parsed) == entries


def test_an_unwritable_parsed_copy_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    lock = lock_with(tmp_path, json.dumps(row()))
    assert read_lock(lock, tmp_path / "a-file" / "lock.parsed") == read_lock(lock)


def test_the_parsed_copy_is_a_hint_written_without_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """durable=False: a copy checked against the lock's digest on every read is not worth
    an fsync on every plan."""
    lock, parsed = lock_with(tmp_path, json.dumps(row())), tmp_path / "lock.parsed"

    def no_fsync(fd: int) -> None:
        raise OSError("fsync called for the parsed copy")

    monkeypatch.setattr(os, "fsync", no_fsync)
    read_lock(lock, parsed)
    assert parsed.exists()


# -- parsing: every line, with messages that say what is wrong --------------------------


def test_a_blank_line_does_not_end_the_lock(tmp_path: Path) -> None:
    a, b = json.dumps(row(path="a.png")), json.dumps(row(path="b.png"))
    lock = lock_with(tmp_path, a, "", "  ", b)
    assert sorted(read_lock(lock)) == ["a.png", "b.png"]


@pytest.mark.parametrize(
    "header", ['{"brandkit_lock": 3}', '{"brandkit_lock": true}', "[1]", '{"note": "x"}']
)
def test_a_wrong_header_is_named_as_the_header(tmp_path: Path, header: str) -> None:
    lock = tmp_path / "brandkit.lock"
    lock.write_text(header + "\n" + json.dumps(row()) + "\n")
    with pytest.raises(
        BrandkitError,
        match=r'^brandkit\.lock:1: not a brandkit lock header \(expected \{"brandkit_lock": 2, '
        r"\.\.\.\}\); restore it from git or delete it to rebuild it$",
    ):
        read_lock(lock)


def test_an_output_listed_twice_is_a_clear_error(tmp_path: Path) -> None:
    lock = lock_with(tmp_path, json.dumps(row()), json.dumps(row()))
    with pytest.raises(
        BrandkitError,
        match=r"^brandkit\.lock:3: 'logo/icon\.png' is listed twice; restore it from git or "
        r"delete it to rebuild it$",
    ):
        read_lock(lock)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[1, 2]", "expected an object, got list"),
        (json.dumps(row(key=5)), "key must be a string"),
        (json.dumps(row(path="../up.png")), "path '../up.png' must be relative, inside the"),
        (json.dumps(row(width=0)), "width must be a positive integer"),
        (json.dumps(row(height=-3)), "height must be a positive integer"),
        (json.dumps(row(width=True)), "width must be a positive integer"),
        (json.dumps(row(size="123")), "size must be an integer or null"),
        (json.dumps(row(size=True)), "size must be an integer or null"),
        (json.dumps(row(seed=1.5)), "seed must be an integer or null"),
        (json.dumps(row(cost_usd="free")), "cost_usd must be a number or null"),
        (json.dumps(row(credits=False)), "credits must be a number or null"),
    ],
)
def test_each_bad_field_is_named_in_the_error(tmp_path: Path, line: str, says: str) -> None:
    with pytest.raises(BrandkitError, match=r"^brandkit\.lock:2: not a valid lock entry") as info:
        read_lock(lock_with(tmp_path, line))
    assert f"({says}" in str(info.value)


def test_a_one_pixel_output_is_a_valid_entry(tmp_path: Path) -> None:
    entry = read_one(tmp_path, json.dumps(row(width=1, height=1)))
    assert (entry.width, entry.height) == (1, 1)


def test_sizes_and_seeds_that_are_integers_or_null_are_read(tmp_path: Path) -> None:
    assert read_one(tmp_path, json.dumps(row(size=123, seed=7))).size == 123
    entry = read_one(tmp_path, json.dumps(row(size=None, seed=None)))
    assert (entry.size, entry.seed) == (None, None)


@pytest.mark.parametrize(
    ("cost", "credits", "expected"),
    [
        ("NaN", "2.5", (None, 2.5)),
        ("0.5", "Infinity", (0.5, None)),
        ("-Infinity", "NaN", (None, None)),
        ("0.5", "3", (0.5, 3)),
    ],
)
def test_a_non_finite_cost_in_the_lock_is_read_as_unknown(
    tmp_path: Path, cost: str, credits: str, expected: tuple[object, object]
) -> None:
    """Python's json reads NaN and Infinity; the lock's numbers are finite or null."""
    line = json.dumps(row()).replace('"cost_usd": 0.5', f'"cost_usd": {cost}')
    line = line.replace('"credits": null', f'"credits": {credits}')
    entry = read_one(tmp_path, line)
    assert (entry.cost_usd, entry.credits) == expected
    assert entry == LockEntry(**{**row(), "cost_usd": expected[0], "credits": expected[1]})


def test_finite_keeps_finite_numbers_only() -> None:
    assert finite(1.5) == 1.5 and finite(3) == 3 and finite(0) == 0
    for bad in (float("inf"), float("-inf"), float("nan"), 10**400, True, "1", None):
        assert finite(bad) is None, bad


def test_whole_keeps_integers_but_not_bools() -> None:
    assert whole(3) == 3 and whole(0) == 0
    for bad in (True, False, "3", 3.0, None):
        assert whole(bad) is None, bad


# -- writing ----------------------------------------------------------------------------


def test_a_non_finite_cost_is_written_as_null_and_nothing_else_changes() -> None:
    entry = LockEntry(**{**row(), "cost_usd": float("nan"), "credits": 2.5})  # type: ignore[arg-type]
    line = render_lock({entry.path: entry}).decode().splitlines()[1]
    assert json.loads(line) == {**row(), "cost_usd": None, "credits": 2.5}


def test_write_lock_accepts_the_rendered_bytes(tmp_path: Path) -> None:
    entry = LockEntry(**row())  # type: ignore[arg-type]
    data = render_lock({entry.path: entry})
    lock = tmp_path / "brandkit.lock"
    assert write_lock(lock, data)
    assert lock.read_bytes() == data
    assert not write_lock(lock, data), "same bytes: no write"


def test_a_non_ascii_path_is_written_as_utf8_not_escaped(tmp_path: Path) -> None:
    """Module level, where mutmut does not reach: _ENTRY's ensure_ascii=False (a diff
    reader sees the name as it is)."""
    entry = LockEntry(**row(path="logo/café.png"))  # type: ignore[arg-type]
    lock = tmp_path / "brandkit.lock"
    write_lock(lock, {entry.path: entry})
    assert '"path": "logo/café.png"' in lock.read_text(encoding="utf-8")
    assert read_lock(lock) == {entry.path: entry}


# --- transform: how an output was cut (lock version 2) ----------------------------------


def test_an_absent_transform_is_plain_in_version_2_and_unknown_in_version_1(
    tmp_path: Path,
) -> None:
    assert read_one(tmp_path, json.dumps(row())).transform == ""
    old = tmp_path / "old.lock"
    old.write_text('{"brandkit_lock": 1}\n' + json.dumps(row()) + "\n")
    (entry,) = read_lock(old).values()
    assert entry.transform is None
    given = json.dumps(row(transform="0123456789abcdef"))
    old.write_text('{"brandkit_lock": 1}\n' + given + "\n")
    assert next(iter(read_lock(old).values())).transform == "0123456789abcdef"


@pytest.mark.parametrize("bad", ["0123456789ABCDEF", "0123456789abcde", "0" * 17, "xyz", 12])
def test_a_transform_that_is_not_16_lowercase_hex_digits_is_refused(
    tmp_path: Path, bad: object
) -> None:
    with pytest.raises(
        BrandkitError,
        match=r": not a valid lock entry \(transform must be 16 hex digits, or absent for a "
        r"plain output\); restore",
    ):
        read_one(tmp_path, json.dumps(row(transform=bad)))


def test_a_transform_is_written_only_when_the_cut_is_not_plain(tmp_path: Path) -> None:
    fitted = LockEntry(**{**row(path="a.png"), "transform": "0123456789abcdef"})  # type: ignore[arg-type]
    plain = LockEntry(**row(path="b.png"))  # type: ignore[arg-type]
    unknown = LockEntry(**{**row(path="c.png"), "transform": None})  # type: ignore[arg-type]
    text = render_lock({"a.png": fitted, "b.png": plain, "c.png": unknown}).decode()
    lines = text.splitlines()
    assert json.loads(lines[0])["brandkit_lock"] == 2
    assert [json.loads(line).get("transform", "absent") for line in lines[1:]] == [
        "0123456789abcdef",
        "absent",
        None,  # unknown stays unknown: written as null, not read back as plain
    ]
    write_lock(tmp_path / "brandkit.lock", {"a.png": fitted, "b.png": plain, "c.png": unknown})
    back = read_lock(tmp_path / "brandkit.lock")
    assert [back[p].transform for p in ("a.png", "b.png", "c.png")] == [
        "0123456789abcdef",
        "",
        None,
    ]


def test_a_lock_whose_first_line_is_not_its_header_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "brandkit.lock"
    lock.write_text("\n" + HEADER + "\n" + json.dumps(row()) + "\n")  # a blank line first
    with pytest.raises(BrandkitError, match=r"^brandkit\.lock:1: not a brandkit lock header"):
        read_lock(lock)


def test_blank_lines_after_the_header_are_allowed_anywhere(tmp_path: Path) -> None:
    lock = tmp_path / "brandkit.lock"
    lock.write_text(HEADER + "\n\n" + json.dumps(row()) + "\n\n")  # a merge may leave these
    assert list(read_lock(lock)) == ["logo/icon.png"]

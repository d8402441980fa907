"""Journal guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/journal.py
that the other unit tests let through."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipeline.journal import JOURNAL_NAME, Journal, JournalEntry, _parse


def lines(root: Path) -> list[str]:
    return (root / JOURNAL_NAME).read_text().splitlines()


def test_the_journal_is_journal_jsonl_with_sorted_keys_a_line(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", taskUUID="t-1", provider="runware")
    (line,) = lines(tmp_path)
    assert list(json.loads(line)) == sorted(json.loads(line))
    assert (tmp_path / "journal.jsonl").stat().st_mode & 0o777 == 0o644


def test_a_last_line_without_its_newline_is_rewritten_before_appending(tmp_path: Path) -> None:
    """A whole entry whose newline was cut by a kill must not swallow the next append."""
    (tmp_path / JOURNAL_NAME).write_text(json.dumps({"key": "k1", "taskUUID": "t-1"}))
    with Journal(tmp_path) as j:
        j.record("k2", taskUUID="t-2")
    assert [json.loads(line)["key"] for line in lines(tmp_path)] == ["k1", "k2"]


def test_a_clean_journal_is_not_rewritten_on_load(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", taskUUID="t-1")
    inode = (tmp_path / JOURNAL_NAME).stat().st_ino
    assert Journal(tmp_path).get("k1") is not None
    assert (tmp_path / JOURNAL_NAME).stat().st_ino == inode


def test_a_journal_of_only_dropped_entries_leaves_no_file_once_read(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    j.drop("k1")  # a process killed before close leaves both lines
    assert len(lines(tmp_path)) == 2
    assert Journal(tmp_path).entries() == []
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_a_merge_keeps_the_entrys_first_since(tmp_path: Path, monkeypatch) -> None:
    j = Journal(tmp_path)
    before = time.time()
    j.record("k", provider="pixeldojo")
    first = j.get("k")
    assert first is not None and first.since is not None
    since = first.since
    assert before <= since <= time.time()
    j.record("k", jobId="job-1")
    entry = Journal(tmp_path).get("k")
    assert entry == JournalEntry(key="k", since=since, provider="pixeldojo", ids={"jobId": "job-1"})


def test_entries_are_sorted_by_key_and_are_copies(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    for key in ("k3", "k1", "k2"):
        j.record(key, taskUUID=key)
    entries = j.entries()
    assert [e.key for e in entries] == ["k1", "k2", "k3"]
    entries[0].ids["taskUUID"] = "changed"
    again = j.get("k1")
    assert again is not None and again.ids["taskUUID"] == "k1"


def test_dropping_an_unknown_key_writes_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", taskUUID="t-1")
        j.drop("nope")
    assert len(lines(tmp_path)) == 1


def test_a_drop_of_an_unknown_key_in_the_file_is_harmless(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_NAME).write_text(
        json.dumps({"key": "k1"}) + "\n" + json.dumps({"drop": "other"}) + "\n"
    )
    assert [e.key for e in Journal(tmp_path).entries()] == ["k1"]


def test_close_keeps_a_journal_with_live_entries_and_can_be_called_twice(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    j.close()
    j.close()
    assert [json.loads(line)["key"] for line in lines(tmp_path)] == ["k1"]
    j.record("k2", taskUUID="t-2")  # appends again after a close
    j.close()
    assert [json.loads(line)["key"] for line in lines(tmp_path)] == ["k1", "k2"]


def test_a_short_write_ends_the_line_and_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2]) if len(data) > 1 else real_write(fd, data)

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(OSError, match="could not write a whole journal line"):
        j.record("k2", taskUUID="t-2")
    monkeypatch.undo()
    j.close()
    assert (tmp_path / JOURNAL_NAME).read_bytes().endswith(b"\n")
    assert [e.key for e in Journal(tmp_path).entries()] == ["k1"]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (b'{"key": "k"}', True),
        (b'{"drop": "k"}', True),
        (b'{"key": 5}', False),
        (b'{"drop": 5}', False),
        (b'{"drop": "k", "extra": 1}', False),
        (b"[1, 2]", False),
        (b'"key"', False),
        (b'{"key": "k", "', False),
        (b"\xff", False),
    ],
)
def test_only_an_entry_with_a_string_key_or_a_bare_drop_is_a_line(line: bytes, kept: bool) -> None:
    assert (_parse(line) is not None) is kept


def test_closing_a_journal_that_never_wrote_is_no_error(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    assert j.entries() == []
    j.close()
    Journal(tmp_path).close()
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_the_first_record_makes_the_cache_folder_and_its_parents(tmp_path: Path) -> None:
    root = tmp_path / "project" / ".brandkit"
    with Journal(root) as j:
        j.record("k1", taskUUID="t-1")
    assert [json.loads(line)["key"] for line in lines(root)] == ["k1"]


def test_a_compacted_journal_is_whole_sorted_lines_read_back_alike(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    for key in ("k3", "k1", "k2"):
        j.record(key, zeta=1, alpha=2)
    j.drop("k1")
    first = Journal(tmp_path).entries()  # compacts: rewrites the file
    assert len(lines(tmp_path)) == 2
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines(tmp_path))
    assert Journal(tmp_path).entries() == first
    assert [e.key for e in first] == ["k2", "k3"]


def test_an_unknown_key_reads_as_no_entry(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", taskUUID="t-1")
        assert j.get("other") is None
    assert Journal(tmp_path).get("other") is None


def test_the_kept_file_and_credits_read_back_typed_and_not_as_provider_ids(
    tmp_path: Path,
) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", file="tmp/k1.part", credits=2, provider="pixeldojo")
        j.record("k2", file=7, credits="2")  # damaged fields read as missing
    entry = Journal(tmp_path).get("k1")
    assert entry is not None
    assert entry.file == "tmp/k1.part" and entry.credits == 2.0
    assert isinstance(entry.credits, float) and entry.ids == {}
    assert entry.collectable(()), "the kept file is enough to collect the job"
    damaged = Journal(tmp_path).get("k2")
    assert damaged is not None and damaged.file is None and damaged.credits is None
    assert not damaged.collectable(())


def test_a_compaction_writes_each_line_with_sorted_keys(tmp_path: Path) -> None:
    """A line written in another order (by hand, or an older brandkit) comes back sorted
    when the journal is compacted."""
    (tmp_path / JOURNAL_NAME).write_text(
        '{"taskUUID": "t-1", "key": "k1"}\n' + json.dumps({"drop": "k0"}) + "\n"
    )
    assert Journal(tmp_path).get("k1") == JournalEntry(key="k1", ids={"taskUUID": "t-1"})
    assert lines(tmp_path) == ['{"key": "k1", "taskUUID": "t-1"}']

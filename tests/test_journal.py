"""The journal file: appended a line at a time, read back whole, robust to a kill."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.journal import Journal


def lines(root: Path) -> list[str]:
    return (root / "journal.jsonl").read_text().splitlines()


def test_entries_merge_and_survive_a_new_process(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", provider="runware", taskUUID="t-1")
    j.record("k2", provider="pixeldojo")
    j.record("k2", jobId="job-2", statusUrl="https://example.test/s/2")
    j.drop("k1")
    # not closed: a process killed here leaves what it appended
    again = Journal(tmp_path).entries()
    assert [e["key"] for e in again] == ["k2"]
    assert again[0]["jobId"] == "job-2" and again[0]["provider"] == "pixeldojo"
    assert "since" in again[0]


def test_an_emptied_journal_leaves_no_file(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        j.record("k1", taskUUID="t-1")
        j.drop("k1")
    assert not (tmp_path / "journal.jsonl").exists()
    with Journal(tmp_path) as j:
        j.record("k2", taskUUID="t-2")
    assert [json.loads(line)["key"] for line in lines(tmp_path)] == ["k2"]


def test_a_line_cut_short_is_skipped_and_never_swallows_the_next(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    j.close()
    with open(tmp_path / "journal.jsonl", "a") as f:
        f.write('{"key": "k2", "taskU')  # a kill mid-line
    j = Journal(tmp_path)
    j.record("k3", taskUUID="t-3")
    j.close()
    assert [e["key"] for e in Journal(tmp_path).entries()] == ["k1", "k3"]
    assert all(json.loads(line) for line in lines(tmp_path))


def test_reading_compacts_dropped_entries_away(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    for i in range(5):
        j.record(f"k{i}", taskUUID=f"t-{i}")
    for i in range(4):
        j.drop(f"k{i}")
    assert len(lines(tmp_path)) == 9
    assert [e["key"] for e in Journal(tmp_path).entries()] == ["k4"]
    assert len(lines(tmp_path)) == 1


def test_an_earlier_versions_entry_files_move_into_the_journal(tmp_path: Path) -> None:
    legacy = tmp_path / "journal"
    legacy.mkdir()
    (legacy / "k1.json").write_text(json.dumps({"key": "k1", "taskUUID": "t-1"}))
    (legacy / "k2.json").write_text('{"key": "k2", "task')  # damaged: dropped
    j = Journal(tmp_path)
    assert j.get("k1") == {"key": "k1", "taskUUID": "t-1"}
    assert j.get("k2") is None
    assert not legacy.exists()
    assert [json.loads(line)["key"] for line in lines(tmp_path)] == ["k1"]


def test_get_hands_out_a_copy(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    entry = j.get("k1")
    assert entry is not None
    entry["taskUUID"] = "changed"
    assert j.get("k1")["taskUUID"] == "t-1"  # type: ignore[index]

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
    assert [e.key for e in again] == ["k2"]
    assert again[0].ids["jobId"] == "job-2" and again[0].provider == "pixeldojo"
    assert again[0].since is not None


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
    assert [e.key for e in Journal(tmp_path).entries()] == ["k1", "k3"]
    assert all(json.loads(line) for line in lines(tmp_path))


def test_reading_compacts_dropped_entries_away(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    for i in range(5):
        j.record(f"k{i}", taskUUID=f"t-{i}")
    for i in range(4):
        j.drop(f"k{i}")
    assert len(lines(tmp_path)) == 9
    assert [e.key for e in Journal(tmp_path).entries()] == ["k4"]
    assert len(lines(tmp_path)) == 1


def test_an_entry_on_disk_reads_typed_and_a_damaged_field_as_missing(tmp_path: Path) -> None:
    """The format on disk is the one earlier builds wrote: one JSON object a line."""
    line = {
        "key": "k1",
        "since": 1700000000.5,
        "provider": "cloudflare",
        "model": "flux-1-schnell",
        "spec": {"prompt": "p", "width": 64, "height": 64},
        "url": "https://example.test/i.png",
        "seed": 7,
        "cost_usd": 0.01,
        "credits": None,
        "meta": {"id": "x"},
        "odd": 2,
        "jobId": "job-1",
    }
    damaged = {"key": "k2", "provider": 5, "seed": "7", "cost_usd": True, "odd": "2", "url": 1}
    (tmp_path / "journal.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(damaged) + "\n")
    entry, odd = Journal(tmp_path).entries()
    assert (entry.provider, entry.model, entry.url, entry.file) == (
        "cloudflare",
        "flux-1-schnell",
        "https://example.test/i.png",
        None,
    )
    assert (entry.seed, entry.cost_usd, entry.credits, entry.odd) == (7, 0.01, None, 2)
    assert entry.spec["width"] == 64 and entry.meta == {"id": "x"}
    assert entry.ids == {"jobId": "job-1"} and entry.since == 1700000000.5
    assert (odd.provider, odd.seed, odd.cost_usd, odd.odd, odd.url) == ("", None, None, 0, None)
    assert not odd.collectable(("jobId",)) and entry.collectable(())
    Journal(tmp_path).record("k1", odd=3)  # appended as it always was: merged, whole
    assert json.loads(lines(tmp_path)[-1]) == {**line, "odd": 3}


def test_get_hands_out_a_copy(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record("k1", taskUUID="t-1")
    entry = j.get("k1")
    assert entry is not None
    entry.ids["taskUUID"] = "changed"
    assert j.get("k1").ids["taskUUID"] == "t-1"  # type: ignore[union-attr]


def test_an_entry_whose_master_is_cached_is_settled_not_left_in_flight(tmp_path: Path) -> None:
    """A job cancelled while its master was being stored (the store's thread finished
    it) left its entry: the build counts it as generated, not as in flight."""
    from pipeline.cache import Cache, RecordMeta
    from pipeline.obtain import drop_stored

    journal, cache = Journal(tmp_path / "j"), Cache(tmp_path / "cache")
    try:
        journal.record("stored", provider="runware", taskUUID="t-1")
        journal.record("flying", provider="runware", taskUUID="t-2")
        cache.put("stored", b"png bytes", RecordMeta(1, 1, "png", "runware", "m"))
        assert drop_stored(journal, cache) == 1
        assert [e.key for e in journal.entries()] == ["flying"]
        assert drop_stored(journal, cache) == 0
    finally:
        cache.close()

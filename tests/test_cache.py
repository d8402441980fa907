"""cache: content-addressed, read-only blobs; a corrupt entry is a miss, never an error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.cache import Cache, RecordMeta


@pytest.fixture
def cache(tmp_path: Path):
    with Cache(tmp_path / ".brandkit") as c:
        yield c


def meta() -> RecordMeta:
    return RecordMeta(width=1, height=1, format="png", provider="local", model="m")


def test_put_get_roundtrip_dedupes_blobs(cache: Cache) -> None:
    a = cache.put("k1", b"image-bytes", meta())
    b = cache.put("k2", b"image-bytes", meta())
    assert a.sha256 == b.sha256 == hashlib.sha256(b"image-bytes").hexdigest()
    assert cache.get("k1") == a
    assert cache.read(a) == b"image-bytes"
    blobs = list(cache.blobs.glob("*/*"))
    assert len(blobs) == 1, "one blob per distinct content"
    assert not blobs[0].stat().st_mode & 0o222, "blobs are read-only"
    assert not list(cache.blobs.glob("*/.*")), "no temp files left behind"


def test_the_index_stores_one_flat_mapping_that_earlier_caches_wrote(cache: Cache) -> None:
    """The index's stored form is the flat Record mapping (what caches made before
    RecordMeta hold): a record put now is stored as it, and one stored so is read back."""
    spec = {"prompt": "a fox", "width": 1}
    typed = RecordMeta(1, 2, "webp", "runware", "m", seed=7, cost_usd=0.5, credits=3.0, spec=spec)
    record = cache.put("k", b"image-bytes", typed)
    flat = {
        "sha256": hashlib.sha256(b"image-bytes").hexdigest(),
        "size": 11,
        "width": 1,
        "height": 2,
        "format": "webp",
        "provider": "runware",
        "model": "m",
        "seed": 7,
        "cost_usd": 0.5,
        "credits": 3.0,
        "spec": spec,
    }
    assert cache.index.get("k") == flat
    cache.index.set("earlier", flat)
    assert cache.get("earlier") == record


def test_missing_or_truncated_blob_is_a_miss_and_forgotten(cache: Cache) -> None:
    record = cache.put("k", b"0123456789", meta())
    path = cache.blob_path(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"01234")
    assert cache.get("k") is None
    assert "k" not in cache.all_keys()
    cache.put("k", b"0123456789", meta())  # a put heals it
    assert cache.get("k") is not None
    path.unlink()
    assert cache.get("k") is None


def test_same_size_corruption_is_caught_on_read(cache: Cache) -> None:
    record = cache.put("k", b"0123456789", meta())
    path = cache.blob_path(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"9876543210")
    with pytest.raises(OSError, match="corrupt"):
        cache.read(record)


def test_adopt_verifies_the_hash(cache: Cache, tmp_path: Path) -> None:
    published = tmp_path / "out.png"
    published.write_bytes(b"published")
    good = hashlib.sha256(b"published").hexdigest()
    assert cache.adopt("k", published, "0" * 64, meta()) is None
    assert cache.get("k") is None
    record = cache.adopt("k", published, good, meta())
    assert record is not None and cache.read(record) == b"published"


def test_an_absent_cache_dir_is_empty_and_not_created(tmp_path: Path) -> None:
    c = Cache(tmp_path / "nothing")
    assert c.get("k") is None
    assert c.all_keys() == []
    assert not (tmp_path / "nothing").exists()


def test_all_keys_lists_every_key_once_even_beyond_a_page(tmp_path: Path) -> None:
    """Every key, none forgotten, past diskcache's page of 100 rows."""
    with Cache(tmp_path / "a dir?#%" / ".brandkit") as c:
        keys = {f"key-{i:04d}" for i in range(250)}
        for key in keys:
            c.index.set(key, {"sha256": "0" * 64})
        c.forget("key-0007")
        assert sorted(c.all_keys()) == sorted(keys - {"key-0007"})


def test_alias_points_a_key_at_an_existing_blob_without_its_bytes(cache: Cache) -> None:
    master = cache.put("master", b"the-master-bytes", meta())
    record = cache.alias("output", master, meta())
    assert record is not None and record.sha256 == master.sha256
    assert cache.get("output") == record
    assert len(list(cache.blobs.glob("*/*"))) == 1, "no second copy"
    path = cache.blob_path(master.sha256)
    path.chmod(0o644)
    path.write_bytes(b"short")
    assert cache.alias("other", master, meta()) is None, "a damaged blob is not aliased"
    assert cache.get("other") is None


def test_the_index_never_evicts_what_was_paid_for(tmp_path: Path) -> None:
    """diskcache's default evicts the least recently stored entries past 1 GB; an entry
    evicted is an image paid for again, so the index is opened with no eviction."""
    with Cache(tmp_path / ".brandkit") as c:
        c.index.reset("size_limit", 1)  # even over any size limit
        for i in range(30):
            c.put(f"k{i}", f"image-{i}".encode(), meta())
        assert all(c.get(f"k{i}") is not None for i in range(30))

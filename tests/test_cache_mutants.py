"""Cache guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/cache.py
that the other unit tests let through."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from pipeline.cache import Cache, Record, RecordMeta, _is_sha256
from pipeline.fsutil import FileHashes


def meta() -> RecordMeta:
    return RecordMeta(width=3, height=4, format="png", provider="local", model="m")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remembered(cache: Cache, path: Path) -> str | None:
    """The hash the cache keeps for this very file (by its stat), if any."""
    return cache.hashes.known.get(FileHashes._key(os.lstat(path)))


@pytest.fixture
def cache(tmp_path: Path):
    warnings: list[str] = []
    with Cache(tmp_path / ".brandkit", warn=warnings.append) as c:
        c.warnings = warnings  # type: ignore[attr-defined]
        yield c


def test_a_blob_lives_at_blobs_slash_first_two_hex_slash_its_sha256(cache: Cache) -> None:
    digest = sha(b"x")
    assert cache.blob_path(digest) == cache.root / "blobs" / digest[:2] / digest


def test_a_put_blob_is_read_only_0444_and_its_hash_remembered(cache: Cache) -> None:
    record = cache.put("k", b"bytes", meta())
    path = cache.blob_path(record.sha256)
    assert path.stat().st_mode & 0o777 == 0o444
    assert remembered(cache, path) == record.sha256
    assert record.size == 5 and cache.get("k") == record


def test_the_hash_memo_is_kept_in_dot_brandkit_hashes(tmp_path: Path) -> None:
    root = tmp_path / ".brandkit"
    with Cache(root) as c:
        c.put("k", b"bytes", meta())
    assert (root / "hashes").is_file()


def test_close_releases_the_index_and_a_closed_cache_opens_it_again(tmp_path: Path) -> None:
    c = Cache(tmp_path / ".brandkit")
    record = c.put("k", b"bytes", meta())
    c.close()
    assert c._index is None
    assert c.get("k") == record
    c.close()


def test_put_file_moves_a_temp_file_in_read_only(cache: Cache, tmp_path: Path) -> None:
    source = tmp_path / "download.tmp"
    source.write_bytes(b"downloaded")
    record = cache.put_file("k", source, meta())
    path = cache.blob_path(sha(b"downloaded"))
    assert record == Record(sha256=sha(b"downloaded"), size=10, **asdict(meta()))
    assert not source.exists()
    assert path.read_bytes() == b"downloaded" and path.stat().st_mode & 0o777 == 0o444
    assert remembered(cache, path) == record.sha256
    assert cache.get("k") == record


def test_put_file_trusts_the_callers_hash_and_drops_a_duplicate(
    cache: Cache, tmp_path: Path
) -> None:
    first = tmp_path / "a.tmp"
    first.write_bytes(b"same")
    cache.put_file("k1", first, meta(), sha256=sha(b"same"))
    blob = cache.blob_path(sha(b"same"))
    inode = blob.stat().st_ino
    second = tmp_path / "b.tmp"
    second.write_bytes(b"same")
    record = cache.put_file("k2", second, meta(), sha256=sha(b"same"))
    assert not second.exists() and blob.stat().st_ino == inode, "the blob was already whole"
    assert cache.get("k2") == record and record.size == 4


def test_alias_keeps_the_masters_size(cache: Cache) -> None:
    master = cache.put("master", b"master-bytes", meta())
    alias = cache.alias("out", master, meta())
    assert alias is not None and alias.size == master.size == 12


def test_adopt_indexes_the_key_with_a_read_only_remembered_blob(
    cache: Cache, tmp_path: Path
) -> None:
    published = tmp_path / "out.png"
    published.write_bytes(b"published")
    record = cache.adopt("k", published, sha(b"published"), meta())
    path = cache.blob_path(sha(b"published"))
    assert record is not None and record.size == 9
    assert remembered(cache, path) == record.sha256  # before get, which would hash it
    assert cache.get("k") == record
    assert path.stat().st_mode & 0o777 == 0o444


def test_adopt_refuses_a_symlink_even_to_the_right_bytes(cache: Cache, tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    real.write_bytes(b"published")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    assert cache.adopt("k", link, sha(b"published"), meta()) is None
    assert not os.path.lexists(cache.blob_path(sha(b"published")))
    assert cache.get("k") is None


def test_a_record_whose_sha256_is_not_a_hash_is_a_miss_and_forgotten(cache: Cache) -> None:
    cache.put("k", b"bytes", meta())
    cache.index.set("bad", {**cache.index.get("k"), "sha256": "../../../etc/passwd"})
    assert cache.get("bad") is None
    assert "bad" not in cache.all_keys()


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0123456789abcdef" * 4, True),
        ("a" * 63, False),
        ("a" * 65, False),
        ("A" * 64, False),
        ("g" * 64, False),
        ("X" * 64, False),
        (None, False),
        (b"a" * 64, False),
    ],
)
def test_only_64_lowercase_hex_digits_name_a_blob(text: object, ok: bool) -> None:
    assert _is_sha256(text) is ok


def test_a_missing_blob_is_a_silent_miss(cache: Cache) -> None:
    record = cache.put("k", b"bytes", meta())
    path = cache.blob_path(record.sha256)
    path.unlink()
    assert cache.get("k") is None
    assert cache.warnings == []  # type: ignore[attr-defined]


def test_a_swapped_blob_warns_once_with_its_short_hash_and_is_removed(cache: Cache) -> None:
    record = cache.put("k", b"0123456789", meta())
    path = cache.blob_path(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"9876543210")
    assert cache.get("k") is None
    assert (
        cache.warnings
        == [  # type: ignore[attr-defined]
            f"cache blob {record.sha256[:12]} does not hold the bytes it was stored with "
            "(edited or swapped); dropped, to be made again"
        ]
    )
    assert not os.path.lexists(path)


def test_a_symlink_planted_as_a_blob_is_a_miss_and_removed_not_its_target(
    cache: Cache, tmp_path: Path
) -> None:
    record = cache.put("k", b"bytes", meta())
    path = cache.blob_path(record.sha256)
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"bytes")
    path.unlink()
    path.symlink_to(decoy)
    assert cache.get("k") is None
    assert len(cache.warnings) == 1  # type: ignore[attr-defined]
    assert not os.path.lexists(path) and decoy.read_bytes() == b"bytes"


def test_read_never_follows_a_symlinked_blob(cache: Cache, tmp_path: Path) -> None:
    record = cache.put("k", b"bytes", meta())
    path = cache.blob_path(record.sha256)
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"bytes")
    path.unlink()
    path.symlink_to(decoy)
    with pytest.raises(OSError) as info:
        cache.read(record)
    assert "corrupt" not in str(info.value)  # refused at open (ELOOP), not after reading


def test_a_corrupt_read_names_the_blobs_short_hash(cache: Cache) -> None:
    record = cache.put("k", b"0123456789", meta())
    path = cache.blob_path(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"9876543210")
    with pytest.raises(OSError, match=rf"^cache blob {record.sha256[:12]} is corrupt$"):
        cache.read(record)


def test_dropping_a_blob_that_is_not_there_is_no_error(cache: Cache) -> None:
    cache.drop_blob("ab" * 32)


def test_put_replaces_a_symlink_planted_at_the_blobs_name(cache: Cache, tmp_path: Path) -> None:
    digest = sha(b"bytes")
    path = cache.blob_path(digest)
    path.parent.mkdir(parents=True)
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"other")
    path.symlink_to(decoy)
    cache.put("k", b"bytes", meta())
    assert not path.is_symlink() and path.read_bytes() == b"bytes"
    assert decoy.read_bytes() == b"other"


def test_put_refuses_a_blob_folder_that_leads_outside_the_cache(
    cache: Cache, tmp_path: Path
) -> None:
    digest = sha(b"bytes")
    outside = tmp_path / "outside"
    outside.mkdir()
    cache.blobs.mkdir(parents=True)
    (cache.blobs / digest[:2]).symlink_to(outside)
    with pytest.raises(OSError, match="leads outside the cache; refusing to write there"):
        cache.put("k", b"bytes", meta())
    assert list(outside.iterdir()) == []


def test_the_default_warning_goes_to_stderr_prefixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Cache(tmp_path / ".brandkit") as c:
        record = c.put("k", b"0123456789", meta())
        path = c.blob_path(record.sha256)
        path.chmod(0o644)
        path.write_bytes(b"9876543210")
        assert c.get("k") is None
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"warning: cache blob {record.sha256[:12]} does not hold the bytes it was stored with "
        "(edited or swapped); dropped, to be made again\n"
    )

"""Nothing wrong is published: cached bytes are verified before use, an edited output is
noticed (also in a fresh clone) and repaired, never stamped as up to date, the lock and
index.json are strict JSON, and a damaged lock or index is a clear error naming it."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from pipeline import fastpath
from pipeline.cache import Cache, RecordMeta
from pipeline.lockfile import LockEntry, read_lock, render_lock
from pipeline.publish import index_json
from tests.conftest import Run, assert_published_tree
from tests.emulator import Emulator

MANIFEST = """\
kit: {name: integrity}
defaults: {provider: local, model: recraft-v4}
assets:
  logo: {prompt: a logo, sizes: ["1:1", "64x64"]}
  banner: {prompt: a banner, sizes: ["16:9"], format: jpg}
"""
DERIVED = "logo/logo-64x64.png"  # cut from the logo's master
MASTER = "logo/logo-1x1.png"  # the master itself (its blob is the master's)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def strict_json(text: str) -> object:
    """Parse as the JSON standard says: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"{constant} written to a JSON file")

    return json.loads(text, parse_constant=refuse)


def assert_published_as_locked(project: Path) -> None:
    """Every output in dist/latest hashes to the lock's sha256, and index.json agrees."""
    lock = read_lock(project / "brandkit.lock")
    latest = project / "dist" / "latest"
    index = strict_json((latest / "index.json").read_text())
    assert isinstance(index, dict)
    assert {o["path"]: o["sha256"] for o in index["outputs"]} == {
        p: e.sha256 for p, e in lock.items()
    }
    for path, entry in lock.items():
        assert (latest / path).is_file() and not (latest / path).is_symlink()
        assert sha(latest / path) == entry.sha256, path


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.cli import main

    project = tmp_path_factory.mktemp("integrity") / "kit"
    project.mkdir()
    (project / "brandkit.yaml").write_text(MANIFEST)
    assert main(["-C", str(project), "build"]) == 0
    assert_published_tree(project)
    return project


@pytest.fixture
def kit(built_once: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "kit"
    shutil.copytree(built_once, dest, symlinks=True)
    return dest


def blob_of(project: Path, path: str) -> Path:
    digest = read_lock(project / "brandkit.lock")[path].sha256
    return project / ".brandkit" / "blobs" / digest[:2] / digest


def overwrite(path: Path, data: bytes) -> None:
    """Write in place (same inode), as an editor that keeps the file does."""
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


# -- 1. cached bytes are verified before they are used -----------------------------------------


def test_a_swapped_cache_blob_is_a_miss_and_never_published(run: Run, kit: Path) -> None:
    derived, banner = blob_of(kit, DERIVED), blob_of(kit, "banner/banner-16x9.jpg")
    swapped = banner.read_bytes()
    shutil.rmtree(kit / "dist")  # the cache's bytes must now be linked into a new version
    derived.chmod(0o644)
    derived.write_bytes(swapped)  # the 64x64's blob now holds the banner's bytes
    code, out, err = run(kit, "build")
    assert code == 0, err
    assert "cache blob" in err and "dropped" in err  # a warning, not silence
    assert "published dist/v0001" in out
    assert_published_as_locked(kit)
    assert read_lock(kit / "brandkit.lock")[DERIVED].sha256 == blob_of(kit, DERIVED).name
    assert sha(kit / "dist" / "latest" / DERIVED) != hashlib.sha256(swapped).hexdigest()


def test_a_corrupt_master_blob_is_made_again_not_cut_from(run: Run, kit: Path) -> None:
    master = blob_of(kit, MASTER)
    good = master.read_bytes()
    shutil.rmtree(kit / "dist")
    for blob in (kit / ".brandkit" / "blobs").glob("*/*"):
        if blob != master:  # every derived output must be cut again, from the master
            blob.unlink()
    overwrite(master, good[:-1] + bytes([good[-1] ^ 1]))  # same size, other bytes
    code, out, err = run(kit, "build")
    assert code == 0, err
    assert "generated 2" in out, "the free local provider made the master again"
    assert "cache blob" in err
    assert_published_as_locked(kit)
    assert master.read_bytes() == good


def test_a_blob_with_the_right_size_but_wrong_bytes_is_not_reused_by_put(tmp_path: Path) -> None:
    warnings: list[str] = []
    with Cache(tmp_path / "c", warn=warnings.append) as cache:
        meta = RecordMeta(width=1, height=1, format="png")
        record = cache.put("k", b"the real bytes", meta)
        blob = cache.blob_path(record.sha256)
        blob.chmod(0o644)
        blob.write_bytes(b"the fake bytes")  # same length
        assert cache.get("k") is None and warnings  # a miss, with a warning
        again = cache.put("k", b"the real bytes", meta)  # writes it again, not "already there"
        assert cache.read(again) == b"the real bytes"


# -- 2. an edited output is noticed, repaired, and never stamped as current -------------------


def test_status_check_in_a_fresh_clone_notices_an_edited_committed_output(
    run: Run, kit: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"  # what git holds: the manifest, the lock, dist/
    clone.mkdir()
    for name in ("brandkit.yaml", "brandkit.lock"):
        shutil.copy(kit / name, clone / name)
    shutil.copytree(kit / "dist", clone / "dist", symlinks=True)
    assert run(clone, "status", "--check")[0] == 0
    shutil.rmtree(clone / ".brandkit")
    target = clone / "dist" / "latest" / DERIVED
    data = target.read_bytes()
    overwrite(target, data[:-1] + bytes([data[-1] ^ 1]))  # the same size: a size check passes
    code, out, _ = run(clone, "status", "--check")
    assert code == 1
    assert f"modified in dist/latest: {DERIVED}" in out


@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_a_hand_edited_output_is_restored_and_never_stamped_current(
    run: Run, kit: Path, how: str
) -> None:
    """Issue 18: build used to say "no changes", repair nothing and stamp the tree."""
    assert run(kit, "status", "--check")[0] == 0  # stamped as current
    target = kit / "dist" / "latest" / DERIVED
    if how == "in place":  # the file is a hard link of the cache blob: both change
        overwrite(target, b"edited by hand")
    else:
        target.unlink()
        target.write_bytes(b"edited by hand")
    assert fastpath.try_noop(["-C", str(kit), "build"]) is None
    assert run(kit, "status", "--check")[0] == 1
    code, out, err = run(kit, "build")
    assert code == 0, err
    assert "no changes" not in out
    assert "published dist/v0002" in out
    assert DERIVED in err  # says what it repaired
    assert_published_as_locked(kit)
    code, out, _ = run(kit, "status", "--check")
    assert (code, out.strip()) == (0, "up to date: dist/v0002")
    assert fastpath.try_noop(["-C", str(kit), "build"]) == 0  # stamped over verified bytes


def test_an_edited_index_defeats_the_no_op_stamp(run: Run, kit: Path) -> None:
    assert run(kit, "status", "--check")[0] == 0
    assert fastpath.try_noop(["-C", str(kit), "status", "--check"]) == 0
    index = kit / "dist" / "latest" / "index.json"
    text = index.read_text()
    index.unlink()
    index.write_text(text.replace('"outputs"', '"outputz"'))
    assert fastpath.try_noop(["-C", str(kit), "status", "--check"]) is None
    code, _, err = run(kit, "status", "--check")
    assert code == 1 and "dist/v0001/index.json: not a brandkit index" in err


def test_an_edited_output_carried_by_a_partial_build_is_refused(run: Run, kit: Path) -> None:
    target = kit / "dist" / "latest" / DERIVED
    target.unlink()
    target.write_bytes(b"edited by hand")
    (kit / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a wide banner"))
    code, _, err = run(kit, "build", "--only", "banner")
    assert code == 1
    assert f"dist/latest/{DERIVED} does not hold the bytes brandkit.lock names" in err
    assert sorted(p.name for p in (kit / "dist").iterdir()) == ["latest", "v0001"]


# -- 4. strict JSON: no NaN or Infinity in the lock or index.json -----------------------------


def entry(**changes: object) -> LockEntry:
    values: dict = dict(
        path="a.png", key="k" * 64, sha256="0" * 64, width=1, height=1, format="png",
        provider="local", model="m", seed=1, cost_usd=0.04, credits=None, size=3,
    )  # fmt: skip
    values.update(changes)
    return LockEntry(**values)


def test_the_lock_writer_never_writes_nan_or_infinity() -> None:
    lock = render_lock({"a.png": entry(cost_usd=math.nan, credits=math.inf)})
    row = strict_json(lock.decode().splitlines()[1])
    assert isinstance(row, dict) and (row["cost_usd"], row["credits"]) == (None, None)


def test_the_index_writer_never_writes_nan_or_infinity() -> None:
    index = {"version": "v0001", "outputs": [{"path": "a.png", "cost_usd": -math.inf}]}
    parsed = strict_json(index_json(index))
    assert isinstance(parsed, dict) and parsed["outputs"][0]["cost_usd"] is None


def test_a_nan_cost_in_the_cache_is_published_as_unknown(run: Run, kit: Path) -> None:
    with Cache(kit / ".brandkit") as cache:
        for key in cache.all_keys():
            cache.index.set(key, {**cache.index.get(key), "cost_usd": math.nan})
    shutil.rmtree(kit / "dist")  # publish again from those records
    code, _, err = run(kit, "build")
    assert code == 0, err
    lock_text = (kit / "brandkit.lock").read_text()
    rows = [strict_json(line) for line in lock_text.splitlines()[1:] if line]
    assert rows and all(isinstance(r, dict) and r["cost_usd"] is None for r in rows)
    index = strict_json((kit / "dist" / "latest" / "index.json").read_text())
    assert isinstance(index, dict)
    assert all(o["cost_usd"] is None for o in index["outputs"])


# -- 5. a lock or index.json of the wrong shape is a clear error naming it ---------------------

GOOD_LINE = json.dumps(
    {
        "path": "x.png", "key": "a" * 64, "sha256": "b" * 64, "width": 1, "height": 1,
        "format": "png", "provider": "local", "model": "m", "seed": 1, "cost_usd": 0.0,
    }
)  # fmt: skip
HEADER = '{"brandkit_lock": 1}\n'


def line(old: str, new: str) -> bytes:
    """A lock whose one entry has `old` replaced by `new`."""
    assert old in GOOD_LINE
    return (HEADER + GOOD_LINE.replace(old, new, 1) + "\n").encode()


BROKEN_LOCKS = {
    "binary garbage": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
    "a list for a header": b"[1, 2]\n" + GOOD_LINE.encode() + b"\n",
    "a whole-file list": b"[]\n[]\n",
    "an entry that is a list": (HEADER + "[1, 2, 3]\n").encode(),
    "an entry that is null": (HEADER + "null\n").encode(),
    "a missing field": line('"format": "png", ', ""),
    "an unknown field": line("{", '{"extra": 1, '),
    "width as text": line('"width": 1', '"width": "1"'),
    "sha256 a number": line(f'"{"b" * 64}"', "7"),
    "seed as text": line('"seed": 1', '"seed": "one"'),
    "cost as text": line('"cost_usd": 0.0', '"cost_usd": "$1"'),
    "truncated": (HEADER + GOOD_LINE[:60]).encode(),
    "yaml, not json": b"brandkit_lock: 1\nentries: [x.png]\n",
    "a path twice": (HEADER + GOOD_LINE + "\n" + GOOD_LINE + "\n").encode(),
    "a path leaving the folder": line('"x.png"', '"../../outside/x.png"'),
    "an absolute path": line('"x.png"', '"/etc/x.png"'),
}
LOCK_COMMANDS = [["status"], ["status", "--check"], ["plan"], ["plan", "--json"], ["build"]]


def assert_clear_error(code: int, err: str, name: str) -> None:
    assert code in (1, 2), err
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and name in lines[0], err


@pytest.mark.parametrize("damage", sorted(BROKEN_LOCKS))
@pytest.mark.parametrize("command", LOCK_COMMANDS, ids=" ".join)
def test_a_lock_of_the_wrong_shape_is_a_clear_error(
    run: Run, kit: Path, damage: str, command: list[str]
) -> None:
    (kit / "brandkit.lock").write_bytes(BROKEN_LOCKS[damage])
    code, _, err = run(kit, *command)
    assert_clear_error(code, err, "brandkit.lock")


BROKEN_INDEXES = {
    "binary garbage": b"\x00\xff\xfe\x89",
    "not json": b"<html>not an index</html>",
    "truncated": b'{"version": "v0002", "outputs": [{"path": "a',
    "a list": b"[]",
    "a number": b"42",
    "no outputs": b'{"version": "v0002"}',
    "outputs a dict": b'{"outputs": {"a.png": {}}}',
    "an output that is text": b'{"outputs": ["logo/logo-1x1.png"]}',
    "an output without sha256": b'{"outputs": [{"path": "a.png", "key": "k", "width": 1, '
    b'"height": 1, "format": "png", "provider": "local", "model": "m"}]}',
    "width as text": b'{"outputs": [{"path": "a.png", "sha256": "s", "key": "k", "width": "1", '
    b'"height": 1, "format": "png", "provider": "local", "model": "m"}]}',
    "path a number": b'{"outputs": [{"path": 3, "sha256": "s", "key": "k", "width": 1, '
    b'"height": 1, "format": "png", "provider": "local", "model": "m"}]}',
    "a path leaving the folder": b'{"outputs": [{"path": "../../../out.png", "sha256": "s", '
    b'"key": "k", "width": 1, "height": 1, "format": "png", "provider": "l", "model": "m"}]}',
}
INDEX_COMMANDS = [
    ["status"],
    ["status", "--check"],
    ["plan"],
    ["build"],
    ["versions"],
    ["diff"],
    ["diff", "v0001", "v0002"],
    ["gc", "-y", "--keep", "1"],
]


@pytest.fixture(scope="module")
def two_versions(built_once: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.cli import main

    project = tmp_path_factory.mktemp("two") / "kit"
    shutil.copytree(built_once, project, symlinks=True)
    (project / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a wide banner"))
    assert main(["-C", str(project), "build"]) == 0
    assert_published_tree(project)
    assert (project / "dist" / "v0002").is_dir()
    return project


@pytest.mark.parametrize("damage", sorted(BROKEN_INDEXES))
@pytest.mark.parametrize("command", INDEX_COMMANDS, ids=" ".join)
def test_an_index_of_the_wrong_shape_is_a_clear_error(
    run: Run, two_versions: Path, tmp_path: Path, damage: str, command: list[str]
) -> None:
    kit = tmp_path / "kit"
    shutil.copytree(two_versions, kit, symlinks=True)
    (kit / ".brandkit" / "published.json").unlink()  # the lock alone no longer vouches
    index = kit / "dist" / "v0002" / "index.json"
    index.chmod(0o644)
    index.write_bytes(BROKEN_INDEXES[damage])
    code, _, err = run(kit, *command)
    assert_clear_error(code, err, "dist/v0002/index.json")
    assert sorted(p.name for p in (kit / "dist").iterdir()) == ["latest", "v0001", "v0002"]


def test_a_damaged_index_stops_a_paying_build_before_it_pays(
    run: Run, kit: Path, remote: Emulator
) -> None:
    (kit / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a paid banner"))
    index = kit / "dist" / "latest" / "index.json"
    index.unlink()
    index.write_text("[]")
    code, _, err = run(kit, "build", "--provider", "runware")
    assert code == 1 and "dist/v0001/index.json: not a brandkit index" in err
    assert remote.paid_generations == 0 and not remote.requests


# -- usage errors of the history commands -----------------------------------------------------


@pytest.mark.parametrize(
    "args", [["gc", "--keep", "0"], ["gc", "--keep", "-3"], ["diff", "v9"], ["diff", "1", "v7"]]
)
def test_a_bad_keep_or_an_unknown_version_is_a_usage_error(
    run: Run, kit: Path, args: list[str]
) -> None:
    code, _, err = run(kit, *args)
    assert code == 2, err
    assert err.startswith("error: ") and ("--keep must be at least 1" in err or "no version" in err)
    assert (kit / "dist" / "v0001").is_dir()

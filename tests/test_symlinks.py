"""Nothing outside the project is ever linked, copied, written or deleted, whatever
symlinks a restored cache or a checkout holds: each planted link is refused with a clear
error or handled safely, and an "outside" folder with a canary is left exactly as it was
after a build, a gc and a temp-file sweep."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.lockfile import read_lock
from tests.conftest import Run, assert_published_tree
from tests.test_integrity import DERIVED, MANIFEST, assert_published_as_locked


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.cli import main

    project = tmp_path_factory.mktemp("links") / "kit"
    project.mkdir()
    (project / "brandkit.yaml").write_text(MANIFEST)
    assert main(["-C", str(project), "build"]) == 0
    (project / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a wide banner"))
    assert main(["-C", str(project), "build"]) == 0  # v0001 and v0002: gc has one to drop
    assert_published_tree(project)
    return project


@pytest.fixture
def kit(built_once: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "kit"
    shutil.copytree(built_once, dest, symlinks=True)
    return dest


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the project, with a canary and files a sweep or gc would take."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.txt").write_text("do not touch")
    (folder / "dl-0.part").write_text("not brandkit's")  # what a tmp sweep removes
    (folder / "v0001").mkdir()
    (folder / "v0001" / "index.json").write_text('{"outputs": []}')
    return folder


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file under `folder`: its bytes, mtime, inode and link count."""
    seen = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else b""
        seen[str(path.relative_to(folder))] = (data, st.st_mtime_ns, st.st_ino, st.st_nlink)
    return seen


def latest_link(kit: Path, outside: Path) -> str:
    (kit / "dist" / "latest").unlink()
    (kit / "dist" / "latest").symlink_to(outside)
    return "dist/latest points to"


def latest_to_an_outside_version(kit: Path, outside: Path) -> str:
    shutil.copytree(kit / "dist" / "v0002", outside / "v0002")
    (kit / "dist" / "latest").unlink()
    (kit / "dist" / "latest").symlink_to(outside / "v0002")
    return "dist/latest points to"


def version_link(kit: Path, outside: Path) -> str:
    shutil.copytree(kit / "dist" / "v0001", outside / "copy")
    shutil.rmtree(kit / "dist" / "v0001")
    (kit / "dist" / "v0001").symlink_to(outside / "copy")
    return "dist/v0001 is a symlink"


def dist_link(kit: Path, outside: Path) -> str:
    shutil.move(kit / "dist", outside / "dist")
    (kit / "dist").symlink_to(outside / "dist")
    return "dist leads outside the project"


def tmp_link(kit: Path, outside: Path) -> str:
    shutil.rmtree(kit / ".brandkit" / "tmp", ignore_errors=True)
    (kit / ".brandkit" / "tmp").symlink_to(outside)
    return ".brandkit/tmp is a symlink"


def cache_link(kit: Path, outside: Path) -> str:
    shutil.move(kit / ".brandkit", outside / "cache")
    (kit / ".brandkit").symlink_to(outside / "cache")
    return ".brandkit leads outside the project"


def blob_folder_link(kit: Path, outside: Path) -> str:
    digest = read_lock(kit / "brandkit.lock")[DERIVED].sha256
    folder = kit / ".brandkit" / "blobs" / digest[:2]
    shutil.copytree(folder, outside / "blobs", symlinks=True)
    shutil.rmtree(folder)
    folder.symlink_to(outside / "blobs")
    return f".brandkit/blobs/{digest[:2]} is a symlink"


REFUSED: dict[str, Callable[[Path, Path], str]] = {
    "dist/latest -> outside": latest_link,
    "dist/latest -> an outside vNNNN": latest_to_an_outside_version,
    "dist/vNNNN -> outside": version_link,
    "dist -> outside": dist_link,
    ".brandkit/tmp -> outside": tmp_link,
    ".brandkit -> outside": cache_link,
    "a blob folder -> outside": blob_folder_link,
}


@pytest.mark.parametrize("plant", sorted(REFUSED))
def test_a_link_leading_outside_is_refused_and_nothing_outside_changes(
    run: Run, kit: Path, outside: Path, plant: str
) -> None:
    message = REFUSED[plant](kit, outside)
    before = snapshot(outside)
    for command in (["build"], ["build", "--force"], ["gc", "-y", "--keep", "1"], ["status"]):
        code, _, err = run(kit, *command)
        assert code == 1, (command, err)
        assert message in err and "Traceback" not in err, (command, err)
        assert len(err.strip().splitlines()) == 1, err
    assert snapshot(outside) == before


def test_a_blob_that_is_a_link_to_an_outside_file_is_never_linked_or_removed(
    run: Run, kit: Path, outside: Path
) -> None:
    """The worst case: the outside file holds exactly the right bytes."""
    digest = read_lock(kit / "brandkit.lock")[DERIVED].sha256
    blob = kit / ".brandkit" / "blobs" / digest[:2] / digest
    decoy = outside / "decoy.png"
    shutil.copyfile(blob, decoy)
    blob.unlink()
    blob.symlink_to(decoy)
    shutil.rmtree(kit / "dist")  # so the blob's bytes are needed for a new version
    before = snapshot(outside)
    code, _, err = run(kit, "build")
    assert code == 0, err
    assert "cache blob" in err  # a miss, with a warning
    assert_published_as_locked(kit)
    published = kit / "dist" / "latest" / DERIVED
    assert published.stat().st_ino != decoy.stat().st_ino
    assert blob.is_file() and not blob.is_symlink()  # made again, in the cache itself
    assert run(kit, "gc", "-y", "--keep", "1")[0] == 0
    assert snapshot(outside) == before


def test_a_version_folder_holding_a_link_is_republished_and_collected_safely(
    run: Run, kit: Path, outside: Path
) -> None:
    latest = kit / "dist" / "v0002"
    target = latest / DERIVED
    decoy = outside / "decoy.png"
    shutil.copyfile(target, decoy)  # the right bytes again, but not a file of ours
    target.unlink()
    target.symlink_to(decoy)
    (latest / "logo" / "elsewhere").symlink_to(outside)  # a folder link too
    before = snapshot(outside)
    code, out, _ = run(kit, "status", "--check")
    assert code == 1 and f"not a file): {DERIVED}" in out
    code, out, err = run(kit, "build")
    assert code == 0, err
    assert "published dist/v0003" in out
    assert_published_as_locked(kit)
    assert (kit / "dist" / "latest" / DERIVED).stat().st_ino != decoy.stat().st_ino
    code, out, err = run(kit, "gc", "-y", "--keep", "1")
    assert code == 0, err
    assert sorted(p.name for p in (kit / "dist").iterdir()) == ["latest", "v0003"]
    assert snapshot(outside) == before


def test_a_partial_build_never_carries_a_link(run: Run, kit: Path, outside: Path) -> None:
    target = kit / "dist" / "v0002" / DERIVED
    decoy = outside / "decoy.png"
    shutil.copyfile(target, decoy)
    target.unlink()
    target.symlink_to(decoy)
    before = snapshot(outside)
    (kit / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a tall banner"))
    code, _, err = run(kit, "build", "--only", "banner")
    assert code == 1 and f"dist/latest/{DERIVED} does not hold" in err
    assert snapshot(outside) == before


def test_stale_staging_links_are_removed_not_followed(run: Run, kit: Path, outside: Path) -> None:
    """A killed build's leftovers are swept; a link planted among them is only unlinked."""
    (kit / "dist" / ".staging-v0009-1").symlink_to(outside)
    before = snapshot(outside)
    (kit / "brandkit.yaml").write_text(MANIFEST.replace("a banner", "a tall banner"))
    code, _, err = run(kit, "build")
    assert code == 0, err
    assert not os.path.lexists(kit / "dist" / ".staging-v0009-1")
    assert snapshot(outside) == before


def test_the_temp_sweep_unlinks_a_planted_part_link_not_its_target(
    run: Run, kit: Path, outside: Path
) -> None:
    tmp = kit / ".brandkit" / "tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / "dl-9.part").symlink_to(outside / "dl-0.part")
    before = snapshot(outside)
    code, _, err = run(kit, "build")
    assert code == 0, err
    assert not os.path.lexists(tmp / "dl-9.part")  # swept
    assert snapshot(outside) == before

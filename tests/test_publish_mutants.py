"""Publish guarantees that mutation testing found unpinned (tests/MUTATION.md).

Each test names the guarantee; each kills one or more mutmut mutants of pipeline/publish.py
that tests/test_publish.py lets through. Real files on tmp_path throughout: a real cache,
real plans, real version folders; a failure is injected only where no file can cause it
(a hard link across file systems, an interrupt after the version folder's rename)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import __version__, workflow
from pipeline import publish as publish_module
from pipeline.cache import Cache, RecordMeta
from pipeline.cli import main as cli_main
from pipeline.errors import BrandkitError
from pipeline.fsutil import FileHashes
from pipeline.lockfile import lock_digest, read_lock
from pipeline.plan import Plan, cache_key_for, make_plan
from pipeline.project import Project
from pipeline.publish import index_json, publish
from pipeline.results import Outcome
from tests.test_plan_changes import built

# `mark` is written three folders deep (`out:`), so publishing it makes its folders.
MANIFEST = """\
kit: {name: mutants, version: "2.0"}
brand: {name: Acme, colors: {ink: "#112233"}}
defaults: {provider: local, model: recraft-v4}
assets:
  logo: {prompt: a logo, sizes: ["1:1", "64x64"]}
  banner: {prompt: a banner, sizes: ["16:9"], format: jpg}
  mark: {prompt: a mark, sizes: ["32x32"], out: "brand/marks/deep/mark-{{ size }}.{{ format }}"}
"""
BANNER, LOGO, MARK = (
    "banner/banner-16x9.jpg",
    "logo/logo-1x1.png",
    "brand/marks/deep/mark-32x32.png",
)
PATHS = [BANNER, MARK, LOGO, "logo/logo-64x64.png"]  # in published (sorted) order


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "brandkit.yaml").write_text(MANIFEST)
    return Project.at(tmp_path)


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def cache(project: Project, warnings: list[str]) -> Iterator[Cache]:
    with Cache(project.cache_dir, warn=warnings.append) as cache:
        yield cache


def load(project: Project, manifest: str = MANIFEST) -> workflow.Loaded:
    project.manifest.write_text(manifest)
    return workflow.load(project, {})


def store(loaded: workflow.Loaded, cache: Cache, **meta: object) -> None:
    """Every output's bytes in the cache, as execute leaves them (`meta` for all)."""
    for job in loaded.jobs:
        fields: dict[str, object] = {"provider": "local", "model": job.model, "seed": 7, **meta}
        for o in job.outputs:
            cache.put(
                cache_key_for(job.key, o), f"bytes of {o.path} for {job.key}".encode(),
                RecordMeta(width=o.width, height=o.height, format=o.format,
                           **fields),  # type: ignore[arg-type]
            )  # fmt: skip


def planned(
    loaded: workflow.Loaded, cache: Cache, *, every: bool = False, only: str | None = None
) -> tuple[Plan, Outcome]:
    """The plan and the Outcome execute would hand publish: records for the outputs the
    plan takes from the cache, or (`every`) for every output, as a build that made them
    all again (`--force` with a deterministic provider) hands them over."""
    plan = make_plan(loaded.project, loaded.jobs, cache, loaded.project.read_lock(), only=only)
    records = {
        o.target.path: record
        for o in plan.outputs
        if (record := cache.get(o.cache_key) if every else o.record) is not None
    }
    return plan, Outcome(records=records)


def first(project: Project, cache: Cache) -> workflow.Loaded:
    """v0001 published from the cache."""
    loaded = load(project)
    store(loaded, cache)
    assert publish(project, loaded.manifest, *planned(loaded, cache), cache).version == "v0001"
    return loaded


def new_logo(project: Project, cache: Cache, manifest: str = MANIFEST) -> workflow.Loaded:
    """The logo's prompt changed (so a new version is due), its images in the cache."""
    changed = load(project, manifest.replace("a logo", "a new logo"))
    store(changed, cache)
    return changed


def index_of(project: Project, version: str) -> dict:
    return json.loads((project.dist / version / "index.json").read_text())


def replace_by_hand(path: Path, data: bytes) -> None:
    """Edit a published file as a user would (it is a read-only link to a cache blob)."""
    path.unlink()
    path.write_bytes(data)


# index.json


def test_a_non_finite_number_anywhere_in_the_index_is_written_as_null() -> None:
    index = {
        "version": "v0001",
        "cost_usd": math.nan,
        "outputs": [
            {"path": "a.png", "cost_usd": math.inf, "sizes": [1.5, -math.inf], "box": (2.5,)},
            {"path": "b.png", "cost_usd": 0.25},
        ],
    }
    text = index_json(index)
    assert json.loads(text) == {
        "version": "v0001",
        "cost_usd": None,
        "outputs": [
            {"path": "a.png", "cost_usd": None, "sizes": [1.5, None], "box": [2.5]},
            {"path": "b.png", "cost_usd": 0.25},
        ],
    }
    assert "NaN" not in text and "Infinity" not in text


def test_an_index_with_finite_numbers_is_written_as_it_is() -> None:
    index = {"version": "v0002", "outputs": [{"path": "a.png", "cost_usd": 0.5}]}
    assert json.loads(index_json(index)) == index


def test_a_non_finite_number_only_in_the_head_or_only_in_an_output_is_null() -> None:
    head_only = {"version": "v0001", "cost_usd": math.nan, "outputs": [{"path": "a.png"}]}
    assert json.loads(index_json(head_only))["cost_usd"] is None
    output_only = {"version": "v0001", "outputs": [{"path": "a.png", "cost_usd": math.inf}]}
    assert json.loads(index_json(output_only))["outputs"] == [{"path": "a.png", "cost_usd": None}]


def test_the_index_is_the_head_indented_and_each_output_on_a_line_of_its_own() -> None:
    index = {"version": "v0003", "outputs": [{"path": "a.png"}, {"path": "b.png"}]}
    assert index_json(index) == (
        "{\n"
        '  "version": "v0003",\n'
        '  "outputs": [\n'
        '    {"path": "a.png"},\n'
        '    {"path": "b.png"}\n'
        "  ]\n"
        "}\n"
    )
    assert index_json({"version": "v0004", "outputs": []}) == (
        '{\n  "version": "v0004",\n  "outputs": []\n}\n'
    )


@pytest.fixture
def tokyo() -> Iterator[None]:
    """A local time zone nine hours from UTC, restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()


def test_the_index_names_its_tool_and_its_creation_time_in_utc(
    project: Project, cache: Cache, tokyo: None
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    first(project, cache)
    after = datetime.now(UTC)
    index = index_of(project, "v0001")
    assert index["tool"] == f"brandkit {__version__}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", index["created"])
    created = datetime.strptime(index["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= after  # UTC, not the local (Tokyo) clock


def test_each_output_is_indexed_with_its_records_numbers_spec_and_size(
    project: Project, cache: Cache
) -> None:
    loaded = load(project)
    store(loaded, cache, cost_usd=0.04, credits=1.5)
    publish(project, loaded.manifest, *planned(loaded, cache), cache)
    outputs = {o["path"]: o for o in index_of(project, "v0001")["outputs"]}
    logo = next(j for j in loaded.jobs if j.asset == "logo")
    entry = outputs[LOGO]
    assert (entry["seed"], entry["cost_usd"], entry["credits"]) == (7, 0.04, 1.5)
    assert entry["spec"] == logo.spec.canonical() and entry["spec"]["prompt"] == "a logo"
    assert entry["size"] == len(f"bytes of {LOGO} for {logo.key}".encode())
    assert entry["size"] == (project.dist / "v0001" / LOGO).stat().st_size


def test_an_output_names_the_provider_and_model_of_its_record_else_the_jobs(
    project: Project, cache: Cache
) -> None:
    loaded = load(project)
    store(loaded, cache, provider="", model="")  # a record that does not say
    publish(project, loaded.manifest, *planned(loaded, cache), cache)
    outputs = index_of(project, "v0001")["outputs"]
    assert {(o["provider"], o["model"]) for o in outputs} == {("local", "recraft-v4")}
    changed = new_logo(project, cache)
    for job in changed.jobs:  # the new logo's records name another maker
        for o in job.outputs:
            if job.asset == "logo":
                cache.put(
                    cache_key_for(job.key, o), f"made by other for {o.path}".encode(),
                    RecordMeta(width=o.width, height=o.height, format=o.format,
                               provider="other", model="other-model"),
                )  # fmt: skip
    publish(project, changed.manifest, *planned(changed, cache), cache)
    outputs = {o["path"]: o for o in index_of(project, "v0002")["outputs"]}
    assert (outputs[LOGO]["provider"], outputs[LOGO]["model"]) == ("other", "other-model")
    assert (outputs[BANNER]["provider"], outputs[BANNER]["model"]) == ("local", "recraft-v4")


# brandkit.lock


def test_the_lock_records_each_outputs_seed_cost_credits_and_size(
    project: Project, cache: Cache
) -> None:
    loaded = load(project)
    store(loaded, cache, cost_usd=0.04, credits=1.5)
    publish(project, loaded.manifest, *planned(loaded, cache), cache)
    lock = read_lock(project.lock)
    assert list(lock) == sorted(PATHS)
    for path, entry in lock.items():
        size = (project.dist / "v0001" / path).stat().st_size
        assert (entry.seed, entry.cost_usd, entry.credits, entry.size) == (7, 0.04, 1.5, size)


def test_a_publish_vouches_for_the_lock_it_wrote_and_the_version_it_names(
    project: Project, cache: Cache
) -> None:
    first(project, cache)
    assert project.vouched() == ("v0001", lock_digest(project.lock.read_bytes()))
    changed = new_logo(project, cache)
    publish(project, changed.manifest, *planned(changed, cache), cache)
    assert project.vouched() == ("v0002", lock_digest(project.lock.read_bytes()))


def test_a_build_that_changes_nothing_vouches_again_and_returns_the_lock_entries(
    project: Project, cache: Cache
) -> None:
    loaded = first(project, cache)
    project.vouch_file.unlink()  # lost (or stale): the next plan would read index.json
    published = publish(project, loaded.manifest, *planned(loaded, cache), cache)
    assert published.version is None and project.versions() == ["v0001"]
    assert project.vouched() == ("v0001", lock_digest(project.lock.read_bytes()))
    assert published.entries == read_lock(project.lock)


# Where each file comes from


@pytest.mark.parametrize("only", [None, "logo"])
def test_an_unchanged_output_is_linked_from_dist_latest_even_without_its_cache_blob(
    project: Project, cache: Cache, only: str | None
) -> None:
    """Outputs carried as published (unchanged in a full build, or outside `--only`)
    come from dist/latest, verified there: a cache that lost their blobs does not matter."""
    first(project, cache)
    changed = new_logo(project, cache)
    plan, outcome = planned(changed, cache, only=only)
    banner = read_lock(project.lock)[BANNER].sha256
    os.unlink(cache.blob_path(banner))
    assert publish(project, changed.manifest, plan, outcome, cache).version == "v0002"
    v1, v2 = project.dist / "v0001", project.dist / "v0002"
    assert os.path.samefile(v2 / BANNER, v1 / BANNER)
    assert [o["asset"] for o in index_of(project, "v0002")["outputs"]] == [
        "banner", "mark", "logo", "logo",
    ]  # fmt: skip


def test_a_carried_output_takes_its_assets_new_name(project: Project, cache: Cache) -> None:
    """`mark` renamed `seal`, same request and path: carried as published, under `seal`."""
    first(project, cache)
    renamed = MANIFEST.replace("  mark:", "  seal:")
    changed = new_logo(project, cache, renamed)
    plan, outcome = planned(changed, cache)
    assert {o.source for o in plan.outputs if o.asset == "seal"} == {"published"}
    publish(project, changed.manifest, plan, outcome, cache)
    assert {o["path"]: o["asset"] for o in index_of(project, "v0002")["outputs"]}[MARK] == "seal"


def test_an_output_in_folders_of_its_own_is_published_with_its_folders(
    project: Project, cache: Cache
) -> None:
    first(project, cache)
    mark = project.dist / "v0001" / MARK
    assert mark.read_bytes().startswith(f"bytes of {MARK}".encode())


def test_published_files_are_remembered_by_their_verified_hash(
    project: Project, cache: Cache
) -> None:
    """Linked files are remembered under the sha256 they were verified to hold, so the
    next build answers for them with an lstat, not a read."""
    first(project, cache)
    cache.close()  # saves the memo
    memo = FileHashes(cache.root / "hashes").known
    lock = read_lock(project.lock)
    for path in PATHS:
        key = FileHashes._key(os.lstat(project.dist / "v0001" / path))
        assert memo.get(key) == lock[path].sha256


def test_across_file_systems_outputs_are_copied_read_only(
    project: Project, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load(project)
    store(loaded, cache)
    plan, outcome = planned(loaded, cache)

    def cross_device(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert publish(project, loaded.manifest, plan, outcome, cache).version == "v0001"
    for path in PATHS:
        published = project.dist / "v0001" / path
        blob = cache.blob_path(outcome.records[path].sha256)
        assert published.read_bytes() == blob.read_bytes()
        assert not published.is_symlink() and not os.path.samefile(published, blob)
        assert published.stat().st_mode & 0o777 == 0o444


def test_a_link_failure_other_than_cross_device_publishes_nothing(
    project: Project, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk or a permission problem is not a reason to copy: it is reported."""
    loaded = load(project)
    store(loaded, cache)
    plan, outcome = planned(loaded, cache)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)
    with pytest.raises(OSError) as raised:
        publish(project, loaded.manifest, plan, outcome, cache)
    assert raised.value.errno == errno.ENOSPC
    assert list(project.dist.iterdir()) == [] and not project.lock.exists()


class SwappedAfterCheck(FileHashes):
    """Hashes as FileHashes does, then swaps the file just verified for a symlink to
    `outside`: the race between publish's check of a source and the link that follows."""

    def __init__(self, target: Path, outside: Path) -> None:
        super().__init__()
        self.target, self.outside = target, outside

    def sha256(self, path: str | os.PathLike[str]) -> str | None:
        sha = super().sha256(path)
        if Path(path) == self.target:
            os.unlink(path)
            os.symlink(self.outside, path)
        return sha


@pytest.mark.parametrize("copied", [False, True], ids=["linked", "copied"])
def test_a_source_swapped_for_a_symlink_after_its_check_is_never_followed(
    project: Project, cache: Cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copied: bool
) -> None:
    """What is linked (or copied, across file systems) is the verified file itself: a
    symlink put in its place is not followed, so a file outside the kit is neither
    published nor hard-linked nor made read-only."""
    loaded = load(project)
    store(loaded, cache)
    plan, outcome = planned(loaded, cache)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"a file outside the kit")
    os.chmod(outside, 0o600)
    blob = cache.blob_path(outcome.records[LOGO].sha256)
    cache.hashes = SwappedAfterCheck(blob, outside)
    if copied:

        def cross_device(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", cross_device)
    with contextlib.suppress(OSError, NotImplementedError):  # (refusing is fine too)
        publish(project, loaded.manifest, plan, outcome, cache)
    st = os.stat(outside)
    assert (st.st_nlink, st.st_mode & 0o777) == (1, 0o600)
    regular = [p for p in project.dist.rglob("*") if p.is_file() and not p.is_symlink()]
    assert b"a file outside the kit" not in {p.read_bytes() for p in regular}


# Nothing half-written


def test_a_blob_changed_since_the_plan_is_refused_with_its_path_and_what_to_do(
    project: Project, cache: Cache
) -> None:
    loaded = load(project)
    store(loaded, cache)
    plan, outcome = planned(loaded, cache)
    blob = cache.blob_path(outcome.records[LOGO].sha256)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"other bytes")
    with pytest.raises(BrandkitError) as raised:
        publish(project, loaded.manifest, plan, outcome, cache)
    assert str(raised.value) == (
        f"{LOGO}: its cache blob changed while the build ran (it no longer holds the bytes "
        "it was stored with); nothing was published; run brandkit build again"
    )
    assert list(project.dist.iterdir()) == [] and not project.lock.exists()


def test_a_carried_output_edited_since_the_plan_is_refused_and_nothing_is_published(
    project: Project, cache: Cache
) -> None:
    first(project, cache)
    lock = project.lock.read_bytes()
    changed = new_logo(project, cache)
    plan, outcome = planned(changed, cache)
    replace_by_hand(project.latest / BANNER, b"edited by hand")
    with pytest.raises(BrandkitError) as raised:
        publish(project, changed.manifest, plan, outcome, cache)
    assert str(raised.value) == (
        f"dist/latest/{BANNER} does not hold the bytes brandkit.lock names (edited by hand, "
        "or not a regular file); nothing was published; run a full `brandkit build` "
        "(without --only) to publish it again"
    )
    assert sorted(p.name for p in project.dist.iterdir()) == ["latest", "v0001"]
    assert os.readlink(project.latest) == "v0001" and project.lock.read_bytes() == lock


def test_dist_latest_gone_since_the_plan_is_refused_naming_the_output(
    project: Project, cache: Cache
) -> None:
    """The plan trusted the vouched lock for what is published (it read no index): if
    dist/latest no longer holds it at publish time, nothing is guessed."""
    loaded = first(project, cache)
    plan, outcome = planned(loaded, cache)
    assert all(o.source == "published" and o.published is None for o in plan.outputs)
    project.latest.unlink()
    with pytest.raises(BrandkitError, match=r"^[^ :]+: dist/latest changed during the build$"):
        publish(project, loaded.manifest, plan, outcome, cache)
    assert project.versions() == ["v0001"]


def test_a_staging_folder_left_by_a_killed_build_is_removed(project: Project, cache: Cache) -> None:
    stale = project.dist / ".staging-v0001-4242"
    (stale / "logo").mkdir(parents=True)
    (stale / "logo" / "half.png").write_bytes(b"half")
    first(project, cache)
    assert sorted(p.name for p in project.dist.iterdir()) == ["latest", "v0001"]


def test_a_file_named_like_a_staging_folder_does_not_stop_a_publish(
    project: Project, cache: Cache
) -> None:
    project.dist.mkdir()
    (project.dist / ".staging-notes").write_text("not a folder")
    first(project, cache)
    assert project.versions() == ["v0001"] and os.readlink(project.latest) == "v0001"


def test_an_interrupt_after_the_version_folder_is_renamed_is_reported_as_the_interrupt(
    project: Project, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the rename is made durable: the interrupt propagates (not an error of
    the clean-up of a staging folder that is already gone); latest and the lock untouched."""
    loaded = load(project)
    store(loaded, cache)
    plan, outcome = planned(loaded, cache)

    def interrupted(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(publish_module, "fsync_dir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish(project, loaded.manifest, plan, outcome, cache)
    assert not os.path.lexists(project.latest) and not project.lock.exists()
    assert not list(project.dist.glob(".staging-*"))


# dist/latest edited by hand


def test_outputs_made_again_with_the_published_bytes_write_no_version_and_no_warning(
    project: Project, cache: Cache, warnings: list[str]
) -> None:
    """A build that made every output again (as --force does with a deterministic
    provider), byte for byte what dist/latest holds, is no change."""
    loaded = first(project, cache)
    assert warnings == []  # a first publish: nothing was in dist/latest to be edited
    plan, outcome = planned(loaded, cache, every=True)
    assert sorted(outcome.records) == sorted(PATHS)
    published = publish(project, loaded.manifest, plan, outcome, cache)
    assert published.version is None and project.versions() == ["v0001"]
    assert warnings == []


def test_an_output_edited_by_hand_in_dist_latest_is_published_again_with_a_warning(
    project: Project, cache: Cache, warnings: list[str]
) -> None:
    loaded = first(project, cache)
    good = (project.latest / LOGO).read_bytes()
    replace_by_hand(project.latest / LOGO, b"edited by hand")
    plan, outcome = planned(loaded, cache)
    assert sorted(outcome.records) == [LOGO]  # the plan takes it from the cache
    assert publish(project, loaded.manifest, plan, outcome, cache).version == "v0002"
    assert os.readlink(project.latest) == "v0002" and (project.latest / LOGO).read_bytes() == good
    assert warnings == [
        "1 output(s) in dist/latest no longer held the bytes the lock names (edited by "
        f"hand?), e.g. {LOGO}; publishing them again from the cache"
    ]


def test_a_changed_build_does_not_warn_of_outputs_edited_by_hand(
    project: Project, cache: Cache, warnings: list[str]
) -> None:
    first(project, cache)
    changed = new_logo(project, cache)
    assert publish(project, changed.manifest, *planned(changed, cache), cache).version == "v0002"
    assert warnings == []


def test_a_new_version_s_contact_sheet_badges_what_changed_since_the_one_before(
    tmp_path: Path,
) -> None:
    """publish hands the previous version to the sheet: the badge needs it (issue 15)."""
    project = built(tmp_path)
    manifest = project.root / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("palette: [paper]}", "palette: [ink]}"))
    assert cli_main(["-C", str(tmp_path), "build"]) == 0
    sheet = (project.root / "dist" / "v0002" / "index.html").read_text()
    assert sheet.count("since v0001") == 1 and "changed since v0001" in sheet
    first = (project.root / "dist" / "v0001" / "index.html").read_text()
    assert "since" not in first.split("<h2", 1)[1], "the first version badges nothing"

"""publish, directly: a plan and an Outcome in, a version folder, index.json, lock and
dist/latest out, or nothing written at all."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import workflow
from pipeline.cache import Cache, RecordMeta
from pipeline.errors import BrandkitError
from pipeline.lockfile import read_lock
from pipeline.plan import Plan, cache_key_for, make_plan
from pipeline.project import Project
from pipeline.publish import publish
from pipeline.results import Outcome

MANIFEST = """\
kit: {name: published, version: "1.0"}
brand: {name: Acme, colors: {ink: "#112233"}}
defaults: {provider: local, model: recraft-v4}
assets:
  logo: {prompt: a logo, sizes: ["1:1", "64x64"]}
  banner: {prompt: a banner, sizes: ["16:9"], format: jpg}
"""
PATHS = ["banner/banner-16x9.jpg", "logo/logo-1x1.png", "logo/logo-64x64.png"]


@pytest.fixture
def loaded(tmp_path: Path) -> workflow.Loaded:
    (tmp_path / "brandkit.yaml").write_text(MANIFEST)
    return workflow.load(Project.at(tmp_path), {})


@pytest.fixture
def cache(loaded: workflow.Loaded) -> Iterator[Cache]:
    with Cache(loaded.project.cache_dir) as cache:
        yield cache


def cached_plan(loaded: workflow.Loaded, cache: Cache) -> tuple[Plan, Outcome]:
    """Every output already in the cache (as execute leaves them): the plan, and the
    Outcome that hands their records to publish."""
    for job in loaded.jobs:
        for o in job.outputs:
            cache.put(
                cache_key_for(job.key, o), f"bytes of {o.path}".encode(), RecordMeta(width=o.width,
                height=o.height, format=o.format, provider="local", model=job.model, seed=7),
            )  # fmt: skip
    plan = make_plan(loaded.project, loaded.jobs, cache, loaded.project.read_lock())
    records = {o.target.path: o.record for o in plan.outputs if o.record is not None}
    return plan, Outcome(records=records)


def test_a_first_publish_writes_a_version_its_index_the_lock_and_latest(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    project = loaded.project
    plan, outcome = cached_plan(loaded, cache)
    published = publish(project, loaded.manifest, plan, outcome, cache)
    assert (published.version, published.lock_written) == ("v0001", True)
    assert os.readlink(project.latest) == "v0001"
    v1 = project.dist / "v0001"
    files = sorted(str(p.relative_to(v1)) for p in v1.rglob("*") if p.is_file())
    assert files == sorted([*PATHS, "index.html", "index.json"])
    assert all((v1 / p).read_bytes() == f"bytes of {p}".encode() for p in PATHS)
    index = json.loads((v1 / "index.json").read_text())
    assert (index["kit"], index["kit_version"], index["version"]) == ("published", "1.0", "v0001")
    assert index["brand"] == {"name": "Acme", "colors": {"ink": "#112233"}}
    logo = index["outputs"][2]
    assert list(logo) == [
        "path", "asset", "key", "sha256", "width", "height", "format", "provider", "model",
        "seed", "cost_usd", "credits", "prompt", "spec", "size", "transform",
    ]  # fmt: skip
    assert logo["transform"] == "", "a plain cut, said so (an older index has no field)"
    assert (logo["path"], logo["asset"], logo["width"], logo["seed"], logo["prompt"]) == (
        "logo/logo-64x64.png", "logo", 64, 7, "a logo",
    )  # fmt: skip
    lock = read_lock(project.lock)
    assert lock == published.entries and sorted(lock) == PATHS
    assert [(o["path"], o["sha256"], o["key"]) for o in index["outputs"]] == [
        (e.path, e.sha256, e.key) for e in lock.values()
    ]


def test_publishing_the_same_outputs_again_writes_no_version(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    project = loaded.project
    publish(project, loaded.manifest, *cached_plan(loaded, cache), cache)
    lock = project.lock.read_bytes()
    plan, outcome = cached_plan(loaded, cache)
    assert {o.source for o in plan.outputs} == {"published"}
    published = publish(project, loaded.manifest, plan, outcome, cache)
    assert (published.version, published.lock_written) == (None, False)
    assert project.versions() == ["v0001"] and project.lock.read_bytes() == lock


def test_an_output_no_job_made_publishes_nothing(loaded: workflow.Loaded, cache: Cache) -> None:
    project = loaded.project
    plan, outcome = cached_plan(loaded, cache)
    del outcome.records["logo/logo-64x64.png"]
    with pytest.raises(BrandkitError, match=r"^logo/logo-64x64.png: no image was made"):
        publish(project, loaded.manifest, plan, outcome, cache)
    assert not project.dist.exists() and not project.lock.exists()


def test_a_blob_changed_since_the_plan_publishes_nothing(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    project = loaded.project
    plan, outcome = cached_plan(loaded, cache)
    blob = cache.blob_path(outcome.records["logo/logo-1x1.png"].sha256)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"other bytes")
    with pytest.raises(BrandkitError, match="its cache blob changed while the build ran"):
        publish(project, loaded.manifest, plan, outcome, cache)
    assert list(project.dist.iterdir()) == [] and not project.lock.exists()


def test_a_partial_publish_carries_the_other_outputs_as_published(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    project = loaded.project
    publish(project, loaded.manifest, *cached_plan(loaded, cache), cache)
    project.manifest.write_text(MANIFEST.replace("a logo", "a new logo"))
    changed = workflow.load(project, {})
    plan, outcome = cached_plan(changed, cache)
    plan = make_plan(project, changed.jobs, cache, project.read_lock(), only="logo")
    assert [j.job.asset for j in plan.jobs] == ["logo"]
    assert publish(project, changed.manifest, plan, outcome, cache).version == "v0002"
    v1, v2 = (json.loads((project.dist / v / "index.json").read_text()) for v in ("v0001", "v0002"))
    assert v2["outputs"][0] == v1["outputs"][0]  # the banner, line for line
    assert [o["prompt"] for o in v2["outputs"]] == ["a banner", "a new logo", "a new logo"]
    banner = project.dist / "v0002" / PATHS[0]
    assert os.path.samefile(banner, project.dist / "v0001" / PATHS[0])  # linked, not copied
    assert sorted(read_lock(project.lock)) == PATHS


def test_versions_are_numbered_past_v9999_in_numeric_order(tmp_path: Path) -> None:
    """The next version is one past the highest published, compared as numbers (v1000
    after v0999, v10000 after v9999), never as text."""
    from pipeline.publish import _next_version

    project = Project.at(tmp_path)
    for name in ("v0999", "v0002"):
        (project.dist / name).mkdir(parents=True)
    assert _next_version(project) == "v1000"
    (project.dist / "v9999").mkdir()
    assert _next_version(project) == "v10000"
    (project.dist / "v10000").mkdir()
    assert _next_version(project) == "v10001"

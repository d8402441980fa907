"""plan, directly: jobs + a real disk cache + a lock in, statuses and reasons out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import workflow
from pipeline.cache import Cache, RecordMeta
from pipeline.jobs import Job
from pipeline.lockfile import LockEntry
from pipeline.plan import KeysUnder, Plan, cache_key_for, make_plan
from pipeline.project import Project

MANIFEST = """\
kit: {name: planned}
defaults: {provider: local, model: recraft-v4}
assets:
  logo: {prompt: a logo, sizes: ["1:1", "64x64"]}
  banner: {prompt: a banner, sizes: ["16:9"], format: jpg}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "brandkit.yaml").write_text(MANIFEST)
    return Project.at(tmp_path)


@pytest.fixture
def jobs(project: Project) -> list[Job]:
    return workflow.load(project, {}).jobs


@pytest.fixture
def cache(project: Project) -> Iterator[Cache]:
    with Cache(project.cache_dir) as cache:
        yield cache


def store(cache: Cache, key: str, job: Job, provider: str = "", **spec: object) -> None:
    """A master (or output) in the cache under `key`, made from `job`'s request (by
    `provider`, if another made it)."""
    cache.put(
        key,
        f"image {key}".encode(),
        RecordMeta(
            width=job.spec.width,
            height=job.spec.height,
            format="png",
            provider=provider or job.provider,
            model=job.model,
            spec={**job.spec.canonical(), **spec},
        ),
    )


def locked(job: Job, *, key: str | None = None, provider: str = "local") -> dict[str, LockEntry]:
    """Lock entries for every output of `job`, as if published from `key` by `provider`."""
    made = {"key": key or job.key, "provider": provider, "model": job.model}
    return {o.path: lock_entry(o.path, o.width, o.height, o.format, **made) for o in job.outputs}


def lock_entry(path: str, width: int, height: int, fmt: str, **fields: str) -> LockEntry:
    values = {"key": "e" * 64, "provider": "local", "model": "m", **fields}
    return LockEntry(
        path=path, sha256="0" * 64, width=width, height=height, format=fmt, seed=None,
        cost_usd=0.04, credits=None, size=100, **values,
    )  # fmt: skip


def summary(plan: Plan) -> list[tuple[str, str, str]]:
    return [(j.job.asset, j.status, j.reason) for j in plan.jobs]


def test_nothing_cached_or_locked_is_generated_as_new(
    project: Project, jobs: list[Job], cache: Cache
) -> None:
    plan = make_plan(project, jobs, cache, {})
    assert summary(plan) == [("logo", "generate", "new"), ("banner", "generate", "new")]
    assert [o.source for o in plan.outputs] == ["generate"] * 3
    assert plan.removed == [] and plan.paid_replacements() == {}


def test_a_cached_master_is_derived_and_cached_outputs_reused(
    project: Project, jobs: list[Job], cache: Cache
) -> None:
    logo, banner = jobs
    store(cache, logo.key, logo)
    for target in banner.outputs:
        store(cache, cache_key_for(banner.key, target), banner)
    plan = make_plan(project, jobs, cache, {})
    assert summary(plan) == [
        ("logo", "derive", "2 output(s) to cut from the master"),
        ("banner", "reuse", "from the cache: new"),  # nothing published: dist changes
    ]
    assert [o.source for o in plan.outputs] == ["derive", "derive", "cache"]
    assert plan.jobs[0].master is not None and plan.jobs[0].master.sha256
    assert plan.estimated_cost_usd == 0.0


def test_force_generates_what_is_cached(project: Project, jobs: list[Job], cache: Cache) -> None:
    for job in jobs:
        store(cache, job.key, job)
    plan = make_plan(project, jobs, cache, {}, force=True)
    assert summary(plan) == [("logo", "generate", "--force"), ("banner", "generate", "--force")]


def test_a_changed_prompt_is_named_from_the_old_master(
    project: Project, jobs: list[Job], cache: Cache
) -> None:
    logo = jobs[0]
    old_key = "f" * 64
    store(cache, old_key, logo, prompt="an old logo")  # the master the lock's entries came from
    plan = make_plan(project, jobs, cache, locked(logo, key=old_key))
    assert summary(plan)[0] == ("logo", "generate", 'prompt +"a" -"an old"')


def test_an_output_in_the_lock_but_not_the_manifest_is_removed(
    project: Project, jobs: list[Job], cache: Cache
) -> None:
    gone = lock_entry("gone/gone-1x1.png", 8, 8, "png")
    assert make_plan(project, jobs, cache, {gone.path: gone}).removed == [gone]
    partial = make_plan(project, jobs, cache, {gone.path: gone}, only="logo")
    assert partial.removed == [] and summary(partial) == [("logo", "generate", "new")]


def test_replacing_paid_outputs_when_only_the_provider_changed_is_flagged(
    project: Project, jobs: list[Job], cache: Cache
) -> None:
    logo, banner = jobs
    lock = {
        **locked(logo, key=KeysUnder().of(logo, "runware"), provider="runware"),
        **locked(banner, key="d" * 64, provider="runware"),  # another request: not flagged
    }
    plan = make_plan(project, jobs, cache, lock)
    assert plan.paid_replacements() == {("runware", "local"): 2}
    assert [e.path for e in plan.jobs[0].replaces_paid] == [o.path for o in logo.outputs]
    assert plan.jobs[0].reason == (
        "provider changed runware -> local: would replace 2 outputs published from runware "
        "(build refuses without --replace-paid)"
    )
    assert plan.jobs[1].replaces_paid == [] and plan.jobs[1].reason != plan.jobs[0].reason


def test_local_placeholders_replaced_by_a_paid_provider_are_an_upgrade(
    project: Project, cache: Cache
) -> None:
    jobs = workflow.load(project, {}, provider="runware").jobs
    logo = jobs[0]
    old_key = KeysUnder().of(logo, "local")
    assert old_key is not None
    store(cache, old_key, logo, provider="local")
    plan = make_plan(project, jobs, cache, locked(logo, key=old_key))
    assert plan.paid_replacements() == {}
    assert summary(plan)[0] == ("logo", "generate", "provider local -> runware")

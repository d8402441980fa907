"""Candidates in plan and publish, directly (unit tests mutmut selects for plan.py and
publish.py: tests/MUTATION.md): a master-only candidate job is planned and priced, a
partial publish leaves out what pick/approve removed, and the lock records choices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import workflow
from pipeline.approval import annotate, lock_fields_of, with_choices
from pipeline.cache import Cache, RecordMeta
from pipeline.candidates import Choice, candidate_job, choose
from pipeline.lockfile import LockEntry, read_lock
from pipeline.plan import Plan, cache_key_for, make_plan
from pipeline.project import Project
from pipeline.publish import publish
from pipeline.results import Outcome

MANIFEST = """\
kit: {name: chosen}
brand: {name: Acme}
defaults: {provider: local, model: recraft-v4}
assets:
  logo: {prompt: a logo, sizes: ["1:1"], candidates: 3}
  banner: {prompt: a banner, sizes: ["16:9"]}
"""


@pytest.fixture
def loaded(tmp_path: Path) -> workflow.Loaded:
    (tmp_path / "brandkit.yaml").write_text(MANIFEST)
    return workflow.load(Project.at(tmp_path), {})


@pytest.fixture
def cache(loaded: workflow.Loaded) -> Iterator[Cache]:
    with Cache(loaded.project.cache_dir) as cache:
        yield cache


def put(cache: Cache, key: str, width: int, height: int) -> None:
    meta = RecordMeta(width=width, height=height, format="png", provider="local", model="m")
    cache.put(key, f"bytes of {key}".encode(), meta)


def test_a_candidate_master_with_no_outputs_is_generated_until_cached_and_priced(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    logo = loaded.jobs[0]
    two = candidate_job(logo, 2)
    assert two.outputs == () and two.key != logo.key
    prices = {"local": {"recraft-v4": 0.5}}
    plan = make_plan(loaded.project, [two], cache, {}, prices=prices)
    assert [(j.status, j.estimated_cost_usd) for j in plan.jobs] == [("generate", 0.5)]
    put(cache, two.key, two.spec.width, two.spec.height)
    plan = make_plan(loaded.project, [two], cache, {}, prices=prices)
    assert [(j.status, j.estimated_cost_usd) for j in plan.jobs] == [("reuse", 0.0)]
    assert plan.estimated_cost_usd == 0.0


def published_plan(
    loaded: workflow.Loaded, cache: Cache, choices: list[Choice], only: str | None = None
) -> Plan:
    jobs = [c.job for c in choices]
    for job in jobs:
        for o in job.outputs:
            put(cache, cache_key_for(job.key, o), o.width, o.height)
    plan = make_plan(loaded.project, jobs, cache, loaded.project.read_lock(), only=only)
    annotate(plan, choices)
    return plan


def outcome_of(plan: Plan) -> Outcome:
    return Outcome(records={o.target.path: o.record for o in plan.outputs if o.record})


def test_publish_writes_each_jobs_choice_and_carries_other_lines_choices(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    project = loaded.project
    logo, banner = choose(loaded.jobs, {})
    logo = replace(logo, approved_key=logo.keys[0])
    plan = published_plan(loaded, cache, [logo, banner])
    publish(project, loaded.manifest, plan, outcome_of(plan), cache)
    lock = read_lock(project.lock)
    assert lock_fields_of(lock["logo/logo-1x1.png"]) == {
        "candidate": 1, "candidates": 3, "approved_key": logo.keys[0],
    }  # fmt: skip
    assert lock_fields_of(lock["banner/banner-16x9.png"]) == {
        "candidate": 1, "candidates": 1, "approved_key": None,
    }  # fmt: skip
    # a partial publish of banner alone keeps logo's line, choices included
    plan = published_plan(loaded, cache, [banner], only="banner")
    publish(project, loaded.manifest, plan, outcome_of(plan), cache)
    assert read_lock(project.lock)["logo/logo-1x1.png"] == lock["logo/logo-1x1.png"]
    # ... and one whose plan removes logo (unapproved under approval: required) drops it
    plan.removed = [lock["logo/logo-1x1.png"]]
    result = publish(project, loaded.manifest, plan, outcome_of(plan), cache)
    assert result.version == "v0002"
    assert sorted(read_lock(project.lock)) == ["banner/banner-16x9.png"]
    index = json.loads((project.dist / "v0002" / "index.json").read_text())
    assert [o["path"] for o in index["outputs"]] == ["banner/banner-16x9.png"]


def test_with_choices_keeps_a_carried_lines_fields_only_for_the_same_key(
    loaded: workflow.Loaded, cache: Cache
) -> None:
    logo, banner = choose(loaded.jobs, {})
    plan = published_plan(loaded, cache, [banner])
    path = "logo/logo-1x1.png"
    old = replace(_entry(path, logo.keys[1]), candidate=2, candidates=3, approved_key=logo.keys[1])
    plan.lock = {path: old}
    same = with_choices(plan, {path: replace(old, candidate=1, candidates=1, approved_key=None)})
    assert lock_fields_of(same[path]) == lock_fields_of(old)
    other = with_choices(plan, {path: _entry(path, logo.keys[0])})
    assert lock_fields_of(other[path]) == {"candidate": 1, "candidates": 1, "approved_key": None}


def _entry(path: str, key: str) -> LockEntry:
    return LockEntry(
        path=path, key=key, sha256="0" * 64, width=1, height=1, format="png",
        provider="local", model="m", seed=None, cost_usd=None, credits=None, size=1,
    )  # fmt: skip

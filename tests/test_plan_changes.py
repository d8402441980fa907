"""plan's newer guarantees, each found unpinned by a mutation run of plan.py (see
tests/MUTATION.md): a changed brand colour is named, a renamed output is a move, a
transformed output is re-cut when its transform changes, and what the shared remote cache
holds is planned as `remote` at no cost. Real manifests, a real cache, real builds by
the CLI with the local provider."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipeline import workflow
from pipeline.cache import Cache
from pipeline.cli import main
from pipeline.jobs import Job
from pipeline.plan import Plan, make_plan
from pipeline.project import Project

KIT = """\
kit: {name: changes}
brand: {name: Acme, colors: {ink: "#112233", paper: "#F0EEE8"}}
defaults: {provider: local, model: recraft-v4, palette: [ink], background: paper}
assets:
  logo: {prompt: a logo, sizes: ["1:1", "64x64"], fit: contain, pad: paper}
  banner: {prompt: a banner, sizes: ["16:9"], palette: [paper]}
"""


def built(tmp_path: Path, text: str = KIT) -> Project:
    (tmp_path / "brandkit.yaml").write_text(text)
    assert main(["-C", str(tmp_path), "build"]) == 0
    return Project.at(tmp_path)


def plan_of(project: Project, edit: tuple[str, str] | None = None, **kw: object) -> Plan:
    manifest = project.root / "brandkit.yaml"
    if edit is not None:
        manifest.write_text(manifest.read_text().replace(*edit))
    loaded = workflow.load(project, {})
    with Cache(project.cache_dir) as cache:
        return make_plan(
            project, loaded.jobs, cache, project.read_lock(),
            colours=workflow.brand_colours(loaded.manifest), **kw,
        )  # type: ignore[arg-type]  # fmt: skip


def by_asset(plan: Plan) -> dict[str, list]:
    out: dict[str, list] = {}
    for jp in plan.jobs:
        out.setdefault(jp.job.asset, []).append(jp)
    return out


def test_a_changed_brand_colour_is_named_with_old_and_new_values(tmp_path: Path) -> None:
    plan = plan_of(built(tmp_path), ('ink: "#112233"', 'ink: "#445566"'))
    (logo,) = by_asset(plan)["logo"]
    assert logo.status == "generate"
    assert logo.reason == "colour ink #112233 -> #445566"
    assert [c.as_json() for c in logo.changes] == [
        {"field": "palette", "old": "#112233", "new": "#445566"}
    ], "the reason's change, as data"
    (banner,) = by_asset(plan)["banner"]
    assert (banner.status, banner.changes) == ("reuse", []), "an unchanged job: no changes"


def test_a_format_added_to_a_built_job_is_derived_and_named(tmp_path: Path) -> None:
    project = built(tmp_path)
    plan = plan_of(
        project, ('sizes: ["16:9"], palette', 'sizes: ["16:9"], formats: [png, webp], palette')
    )
    (banner,) = by_asset(plan)["banner"]
    assert banner.status == "derive"
    assert "webp" in banner.reason and "added" in banner.reason, banner.reason
    assert plan.estimated_cost_usd == 0.0


def test_a_renamed_output_is_planned_as_a_move_not_a_removal(tmp_path: Path) -> None:
    project = built(tmp_path)
    plan = plan_of(
        project, ("palette: [paper]}", 'palette: [paper], out: "b/{{ size }}.{{ format }}"}')
    )
    assert [(m.old, m.new) for m in plan.moved] == [("banner/banner-16x9.png", "b/16x9.png")]
    assert plan.removed == [], "a move is not a removal"


def test_a_changed_pad_recuts_a_contained_output_from_the_cached_master(tmp_path: Path) -> None:
    project = built(tmp_path)
    as_built = plan_of(project)
    assert {jp.status for jp in as_built.jobs} == {"reuse"}, "as built"
    (logo,) = by_asset(as_built)["logo"]
    assert {o.source for o in logo.outputs} == {"published"}, "dist holds the cut the lock names"
    plan = plan_of(project, ("pad: paper", "pad: ink"))
    (logo,) = by_asset(plan)["logo"]
    assert logo.status == "derive", "the master is the same; its outputs are cut again"
    assert {o.source for o in logo.outputs} == {"derive"}
    assert plan.estimated_cost_usd == 0.0


class Shelf:
    """The part of the remote tier plan asks (RemoteCache.shares / present): masters of
    paid providers are shared, and this shelf holds `keys`."""

    def __init__(self, keys: Iterable[str]):
        self.keys, self.asked = set(keys), []

    def shares(self, job: Job) -> bool:
        return job.asset == "banner"  # as if banner came from a paid provider

    def present(self, keys: Iterable[str]) -> set[str]:
        asked = list(keys)
        self.asked.append(asked)
        return self.keys & set(asked)


def test_what_the_remote_holds_is_planned_as_remote_at_no_cost(tmp_path: Path) -> None:
    (tmp_path / "brandkit.yaml").write_text(KIT)
    project = Project.at(tmp_path)
    jobs = {j.asset: j for j in workflow.load(project, {}).jobs}
    shelf = Shelf([jobs["banner"].key])
    plan = plan_of(project, remote=shelf)
    status = {a: [(jp.status, jp.reason) for jp in jps] for a, jps in by_asset(plan).items()}
    assert status["banner"] == [("remote", "in the shared remote cache")]
    assert status["logo"] == [("generate", "new")], "not shared: generated"
    assert shelf.asked == [[jobs["banner"].key]], "only the shared jobs that would generate"
    forced = by_asset(plan_of(project, remote=shelf, force=True))["banner"]
    assert [jp.status for jp in forced] == ["generate"], "--force pays again, never asks"
    assert len(shelf.asked) == 1

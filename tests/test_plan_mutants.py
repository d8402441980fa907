"""plan's guarantees that no other unit test pinned (found by mutation testing, see
tests/MUTATION.md): where each output's bytes come from (published, cache, dist, derive,
generate) and the proof for it, the reasons, prices and paid replacements.

Real manifests, a real disk cache and, where dist/latest matters, a real build by the CLI
(local provider, made once per module and copied per test)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import workflow
from pipeline.cache import Cache, RecordMeta
from pipeline.cli import main
from pipeline.jobs import Fit, Job
from pipeline.keys import derived_key
from pipeline.paid_words import describe_paid_replacements, paid_choices
from pipeline.plan import Plan, make_plan, only_provider_differs
from pipeline.project import Project
from tests.conftest import assert_published_tree
from tests.test_plan import MANIFEST, locked, store, summary


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "brandkit.yaml").write_text(MANIFEST)
    return Project.at(tmp_path)


def load(project: Project, provider: str | None = None) -> list[Job]:
    return workflow.load(project, {}, provider=provider).jobs


@pytest.fixture
def cache(project: Project) -> Iterator[Cache]:
    with Cache(project.cache_dir) as cache:
        yield cache


def plan_of(project: Project, **kw: object) -> Plan:
    """The plan of `project` as it stands on disk: its manifest, cache and lock."""
    with Cache(project.cache_dir) as cache:
        return make_plan(project, load(project), cache, project.read_lock(), **kw)  # type: ignore[arg-type]


# --- paid replacements, counts ----------------------------------------------------------


def test_paid_replacements_are_described_per_provider_pair_in_order() -> None:
    counts = {("runware", "local"): 6, ("recraft", "runware"): 1}
    assert describe_paid_replacements(counts) == (
        "1 output published from recraft would be replaced by runware images, paid again; "
        "6 outputs published from runware would be replaced by local placeholders"
    )


def test_paid_choices_name_the_one_provider_or_a_placeholder_for_several() -> None:
    assert paid_choices({("runware", "local"): 2}) == (
        'run "brandkit build --provider runware" to keep building with runware, '
        'or "brandkit build --replace-paid" to replace them'
    )
    assert paid_choices({("runware", "local"): 1, ("recraft", "local"): 1}) == (
        'run "brandkit build --provider NAME" to keep building with the provider that made '
        'them, or "brandkit build --replace-paid" to replace them'
    )


def test_count_counts_the_jobs_of_one_status(project: Project, cache: Cache) -> None:
    logo, banner = load(project)
    store(cache, logo.key, logo)
    plan = make_plan(project, [logo, banner], cache, {})
    assert [plan.count(s) for s in ("generate", "derive", "reuse")] == [1, 1, 0]


# --- cache keys -------------------------------------------------------------------------


def test_outputs_are_found_under_their_derived_key(project: Project, cache: Cache) -> None:
    logo, banner = load(project)
    (target,) = banner.outputs
    key = derived_key(banner.key, target.width, target.height, "jpg")  # as derive stores it
    store(cache, key, banner)
    plan = make_plan(project, [logo, banner], cache, {})
    assert summary(plan)[1] == ("banner", "reuse", "from the cache: new")
    assert [o.cache_key for o in plan.outputs] == [
        derived_key(logo.key, o.width, o.height, o.format) for o in logo.outputs
    ] + [key]


def test_an_output_of_another_fit_does_not_reuse_the_cover_bytes(
    project: Project, cache: Cache
) -> None:
    banner = load(project)[1]
    (cover,) = banner.outputs
    store(cache, derived_key(banner.key, cover.width, cover.height, "jpg"), banner)
    contain = replace(banner, outputs=(replace(cover, fit=Fit("contain", pad=(255, 255, 255))),))
    plan = make_plan(project, [contain], cache, {})
    assert summary(plan) == [("banner", "generate", "new")]
    extra = {"fit": {"mode": "contain", "pad": [255, 255, 255], "safe_zone": None}}
    assert plan.outputs[0].cache_key == derived_key(
        banner.key, cover.width, cover.height, "jpg", extra
    )


# --- make_plan: selection, prices, what the plan carries --------------------------------


def test_only_selects_an_asset_after_one_it_skips(project: Project, cache: Cache) -> None:
    plan = make_plan(project, load(project), cache, {}, only="banner")
    assert summary(plan) == [("banner", "generate", "new")]


def test_the_estimated_cost_is_the_list_price_of_the_paid_model(
    project: Project, cache: Cache
) -> None:
    """data/prices.json: runware lists no price of its own for recraft-v4 (recraft:v4@0),
    so the list price of the alias, $0.04, applies; local is free ($0, not unknown)."""
    plan = make_plan(project, load(project, "runware"), cache, {})
    assert [j.unit_cost_usd for j in plan.jobs] == [0.04, 0.04]
    assert plan.estimated_cost_usd == 0.08 and plan.unknown_prices == set()
    free = make_plan(project, load(project), cache, {})
    assert [j.unit_cost_usd for j in free.jobs] == [0.0, 0.0] and free.unknown_prices == set()


def test_a_manifest_price_for_the_provider_s_model_id_wins(project: Project, cache: Cache) -> None:
    prices = {"runware": {"recraft:v4@0": 0.5}, "local": {"recraft-v4": 9.0}}
    plan = make_plan(project, load(project, "runware"), cache, {}, prices=prices)
    assert [j.unit_cost_usd for j in plan.jobs] == [0.5, 0.5] and plan.estimated_cost_usd == 1.0


def test_an_unpriced_model_is_named_only_when_a_job_would_pay_for_it(
    project: Project, cache: Cache
) -> None:
    jobs = load(project, "pixeldojo")  # data/prices.json: pixeldojo is unpriced
    plan = make_plan(project, jobs, cache, {})
    assert [j.unit_cost_usd for j in plan.jobs] == [None, None]
    assert plan.unknown_prices == {"pixeldojo/recraft-v4"} and plan.estimated_cost_usd == 0.0
    for job in jobs:
        store(cache, job.key, job)
    assert make_plan(project, jobs, cache, {}).unknown_prices == set()  # derive: nothing paid


def test_the_plan_carries_the_lock_and_force_it_was_made_with(
    project: Project, cache: Cache
) -> None:
    jobs = load(project)
    for job in jobs:
        store(cache, job.key, job)
    lock = locked(jobs[0])
    plan = make_plan(project, jobs, cache, lock, force=True)
    assert plan.lock == lock and plan.force is True
    assert [o.source for o in plan.outputs] == ["generate"] * 3  # nothing cut from a master
    assert [j.master for j in plan.jobs] == [None, None]


# --- a job's status and outputs ---------------------------------------------------------


def test_a_job_cuts_only_the_outputs_not_already_cached(project: Project, cache: Cache) -> None:
    logo = load(project)[0]
    store(cache, logo.key, logo)
    first = logo.outputs[0]
    store(cache, derived_key(logo.key, first.width, first.height, first.format), logo)
    plan = make_plan(project, [logo], cache, {})
    assert [o.source for o in plan.outputs] == ["cache", "derive"]
    assert summary(plan) == [("logo", "derive", "1 output(s) to cut from the master")]


def test_a_job_with_nothing_to_cut_reads_no_master(project: Project, cache: Cache) -> None:
    logo = load(project)[0]
    store(cache, logo.key, logo)
    for o in logo.outputs:
        store(cache, derived_key(logo.key, o.width, o.height, o.format), logo)
    reused = make_plan(project, [logo], cache, {})
    assert summary(reused) == [("logo", "reuse", "from the cache: new")]
    assert reused.jobs[0].master is None
    banner = load(project)[1]
    assert make_plan(project, [banner], cache, {}).jobs[0].master is None  # new: none to read


def test_assets_asking_for_the_same_image_share_one_job(project: Project, cache: Cache) -> None:
    Path(project.manifest).write_text(
        "kit: {name: twins}\ndefaults: {provider: local, model: recraft-v4}\nassets:\n"
        "  zeta: {prompt: a mark, sizes: ['1:1']}\n  alpha: {prompt: a mark, sizes: ['1:1']}\n"
    )
    plan = make_plan(project, load(project), cache, {})
    assert [j.assets for j in plan.jobs] == [["alpha", "zeta"]]
    assert [o.asset for o in plan.outputs] == ["zeta", "alpha"]


def test_the_request_is_what_the_provider_will_be_sent(project: Project, cache: Cache) -> None:
    plan = make_plan(project, load(project, "runware"), cache, {})
    request = plan.jobs[0].request
    assert (request["model"], request["positivePrompt"]) == ("recraft:v4@0", "a logo")
    assert (request["width"], request["height"]) == (1024, 1024)


# --- paid replacements ------------------------------------------------------------------


def test_one_output_made_by_a_paid_provider_is_named_in_the_reason(
    project: Project, cache: Cache
) -> None:
    """The lock's key is the one a runware build makes (its own job), not recomputed the
    way plan computes it."""
    banner, runware_banner = load(project)[1], load(project, "runware")[1]
    lock = locked(banner, key=runware_banner.key, provider="runware")
    plan = make_plan(project, [banner], cache, lock)
    assert plan.paid_replacements() == {("runware", "local"): 1}
    assert summary(plan) == [(
        "banner", "generate",
        "provider changed runware -> local: would replace 1 output published from runware "
        "(build refuses without --replace-paid)",
    )]  # fmt: skip


def test_a_paid_provider_is_matched_under_its_own_model_id(project: Project, cache: Cache) -> None:
    """runware's job has model recraft:v4@0 and alias recraft-v4; recraft made the
    published image with its own id for the alias, recraftv4."""
    logo, recraft_logo = load(project, "runware")[0], load(project, "recraft")[0]
    lock = locked(logo, key=recraft_logo.key, provider="recraft")
    plan = make_plan(project, [logo], cache, lock)
    assert plan.paid_replacements() == {("recraft", "runware"): 2}
    assert only_provider_differs(logo, logo.outputs[0], lock[logo.outputs[0].path])  # no memo


def test_an_output_of_another_size_at_the_same_path_is_no_paid_replacement(
    project: Project, cache: Cache
) -> None:
    banner, runware_banner = load(project)[1], load(project, "runware")[1]
    lock = {
        path: replace(e, width=e.width + 1)
        for path, e in locked(banner, key=runware_banner.key, provider="runware").items()
    }
    plan = make_plan(project, [banner], cache, lock)
    assert plan.paid_replacements() == {} and plan.jobs[0].replaces_paid == []


# --- reasons ----------------------------------------------------------------------------


def put_master(cache: Cache, key: str, job: Job, model: str | None = None, **spec: object) -> None:
    """The master a lock's entries were cut from, as `job`'s request with `spec` changed."""
    meta = RecordMeta(
        width=job.spec.width, height=job.spec.height, format="png", provider=job.provider,
        model=model or job.model, spec={**job.spec.canonical(), **spec},
    )  # fmt: skip
    cache.put(key, f"master {key}".encode(), meta)


OLD = "f" * 64  # the key the lock's entries were published from (another request)


def test_a_locked_output_of_this_very_request_is_missing_from_cache_and_dist(
    project: Project, cache: Cache
) -> None:
    logo = load(project)[0]
    plan = make_plan(project, [logo], cache, locked(logo))
    assert summary(plan) == [("logo", "generate", "image missing from cache and dist")]


@pytest.mark.parametrize(
    ("model", "spec", "reason"),
    [
        ("recraft-v4-pro", {}, "model recraft-v4-pro -> recraft-v4"),
        (
            None, {"prompt": "old", "seed": 7, "width": 1, "height": 2},
            'prompt +"a logo" -"old", size 1x2 -> 1:1, seed 7 -> none',
        ),
        (None, {}, "request changed"),  # nothing the user wrote: e.g. a newer key schema
    ],
)  # fmt: skip
def test_the_reason_names_what_changed_since_the_lock(
    project: Project, cache: Cache, model: str | None, spec: dict, reason: str
) -> None:
    logo = load(project)[0]
    put_master(cache, OLD, logo, model, **spec)
    plan = make_plan(project, [logo], cache, locked(logo, key=OLD))
    assert summary(plan) == [("logo", "generate", reason)]


def test_a_size_added_to_a_changed_asset_is_explained_by_the_sizes_published_before(
    project: Project, cache: Cache
) -> None:
    logo = load(project)[0]
    put_master(cache, OLD, logo, prompt="an old logo")
    lock = locked(logo, key=OLD)
    Path(project.manifest).write_text(MANIFEST.replace('sizes: ["1:1"', 'sizes: ["32x32", "1:1"'))
    grown = load(project)[0]
    assert grown.key == logo.key and len(grown.outputs) == 3 and grown.outputs[0].path not in lock
    plan = make_plan(project, [grown], cache, lock)
    assert summary(plan) == [("logo", "generate", 'prompt +"a" -"an old"')]


# --- against a real build: published, dist, and the proof for each ----------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MANIFEST built once by the CLI with the local provider (dist/v0001, lock, cache)."""
    root = tmp_path_factory.mktemp("built")
    (root / "brandkit.yaml").write_text(MANIFEST)
    assert main(["-C", str(root), "build"]) == 0
    assert_published_tree(root)
    return root


@pytest.fixture
def kit(built: Path, tmp_path: Path) -> Project:
    """A copy of the built project for one test to change."""
    root = tmp_path / "kit"
    shutil.copytree(built, root, symlinks=True)
    return Project.at(root)


def test_after_a_build_the_lock_alone_proves_what_is_published(kit: Project) -> None:
    """The publish recorded that this lock describes dist/latest: index.json is not read."""
    plan = plan_of(kit)
    assert summary(plan) == [("logo", "reuse", "up to date"), ("banner", "reuse", "up to date")]
    assert [(o.source, o.published) for o in plan.outputs] == [("published", None)] * 3


def _no_record(kit: Project) -> None:
    kit.vouch_file.unlink()


def _another_version(kit: Project) -> None:
    kit.vouch("v0002", json.loads(kit.vouch_file.read_text())["lock_sha256"])


def _another_lock(kit: Project) -> None:
    kit.vouch("v0001", "0" * 64)


@pytest.mark.parametrize("unvouch", [_no_record, _another_version, _another_lock])
def test_without_a_record_for_this_lock_and_version_index_json_proves_it(
    kit: Project, unvouch: object
) -> None:
    unvouch(kit)  # type: ignore[operator]
    plan = plan_of(kit)
    lock = kit.read_lock()
    assert [o.source for o in plan.outputs] == ["published"] * 3
    assert [o.published and o.published.sha256 for o in plan.outputs] == [
        lock[o.target.path].sha256 for o in plan.outputs
    ]


def test_a_lock_that_can_no_longer_be_read_vouches_for_nothing(kit: Project) -> None:
    lock = kit.read_lock()
    kit.lock.unlink()  # read, then gone (the record of its digest stays)
    with Cache(kit.cache_dir) as cache:
        plan = make_plan(kit, load(kit), cache, lock)
    assert all(o.source == "published" and o.published is not None for o in plan.outputs)


def test_an_output_index_json_disagrees_with_is_not_published(kit: Project) -> None:
    _no_record(kit)
    index_file = kit.latest / "index.json"
    index = json.loads(index_file.read_text())
    for o in index["outputs"]:
        if o["path"] == "logo/logo-64x64.png":
            o["sha256"] = "0" * 64
    index_file.write_text(json.dumps(index))
    plan = plan_of(kit)
    assert [o.source for o in plan.outputs] == ["published", "cache", "published"]


def test_a_published_file_replaced_by_hand_is_restored_from_the_cache(kit: Project) -> None:
    """Replaced as an editor saves (a new file), so the cache's own copy is intact."""
    edited = kit.latest / "logo" / "logo-64x64.png"
    edited.unlink()
    edited.write_bytes(b"edited by hand")
    plan = plan_of(kit)
    assert [o.source for o in plan.outputs] == ["published", "cache", "published"]


def test_published_outputs_whose_cache_was_lost_are_copied_from_dist(kit: Project) -> None:
    lock = kit.read_lock()
    shutil.rmtree(kit.cache_dir)
    plan = plan_of(kit)
    assert summary(plan) == [("logo", "reuse", "up to date"), ("banner", "reuse", "up to date")]
    assert [(o.source, o.dist_sha) for o in plan.outputs] == [
        ("dist", lock[o.target.path].sha256) for o in plan.outputs
    ]


def _change_prompt(kit: Project) -> None:
    Path(kit.manifest).write_text(MANIFEST.replace("a logo", "a new logo"))


def test_a_changed_prompt_is_named_from_index_json_when_the_cache_is_gone(kit: Project) -> None:
    _change_prompt(kit)
    shutil.rmtree(kit.cache_dir)
    assert summary(plan_of(kit))[0] == ("logo", "generate", 'prompt +"new"')


def test_a_changed_prompt_is_named_from_index_json_when_the_master_s_blob_is_gone(
    kit: Project,
) -> None:
    _change_prompt(kit)
    shutil.rmtree(kit.cache_dir / "blobs")  # the cache's index still lists the old master
    assert summary(plan_of(kit))[0] == ("logo", "generate", 'prompt +"new"')

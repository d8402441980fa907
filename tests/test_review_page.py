"""The review page's data and HTML, without a browser: what `gather` finds in the cache,
lock and dist for each job, the order jobs come in, the previews `write_review` makes,
and that user text (prompts, selectors) never becomes markup."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipeline.cache import Cache
from pipeline.keys import content_key
from pipeline.lockfile import read_lock, write_lock
from pipeline.project import Project
from pipeline.review_data import (
    Picture,
    Previous,
    ReviewCandidate,
    ReviewData,
    ReviewJob,
    gather,
)
from pipeline.review_page import PREVIEW, render_review, write_review
from pipeline.workflow import load
from tests.conftest import Run, write_manifest

KIT = (
    "kit: {name: tea}\nbrand: {name: Tea, colors: {ink: '#112233', paper: '#F0EEE8'}}\n"
    "defaults: {provider: local, palette: [ink, paper]}\n"
    "assets:\n"
    "  hero: {prompt: 'a teapot', sizes: ['16:9', '1200x675']}\n"
    "  social:\n"
    "    prompt: 'a cup of {{ flavour }} tea'\n"
    "    matrix: {flavour: [sencha, rooibos]}\n"
    "    sizes: ['1:1']\n"
    "    out: 'social/{{ flavour }}-{{ size }}.{{ format }}'\n"
    "  icon: {prompt: 'an icon', sizes: ['32x32', '1:1']}\n"
)


def data_of(root: Path) -> ReviewData:
    project = Project.at(root)
    loaded = load(project, {})
    with Cache(project.cache_dir) as cache:
        return gather(
            project,
            loaded.jobs,
            cache,
            project.read_lock(),
            title="Tea",
            kit="tea",
            assets=[a.id for a in loaded.manifest.assets],
        )


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    write_manifest(tmp_path / "k", KIT)
    return tmp_path / "k"


def test_before_any_build_every_job_is_new_and_its_candidate_not_generated(kit: Path) -> None:
    data = data_of(kit)
    assert [j.selector for j in data.jobs] == [
        "hero@16:9",
        "social[flavour=sencha]@1:1",
        "social[flavour=rooibos]@1:1",
        "icon@1:1",
    ], "manifest order, one canonical selector per job"
    assert {j.status for j in data.jobs} == {"new"}
    assert all(len(j.candidates) == 1 and not j.candidates[0].generated for j in data.jobs)
    assert data.jobs[0].prompt == "a teapot" and data.version is None


def test_after_a_build_every_job_is_current_with_its_master_as_chosen_candidate_1(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    data = data_of(kit)
    assert {j.status for j in data.jobs} == {"current"} and data.version == "v0001"
    hero = data.jobs[0]
    (c,) = hero.candidates
    assert (c.index, c.key, c.chosen, c.approved, c.generated) == (1, hero.key, True, False, True)
    assert c.picture is not None and (c.picture.width, c.picture.height) == (1344, 768)
    assert c.picture.image == f"review/{hero.key[:16]}-{c.picture.sha256[:12]}.webp"
    assert hero.previous is None, "nothing published before: nothing to compare with"


def test_without_a_cache_a_published_job_shows_its_largest_published_output(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    shutil.rmtree(kit / ".brandkit")  # a fresh clone: dist and the lock, no cache
    hero = data_of(kit).jobs[0]
    (c,) = hero.candidates
    assert hero.status == "current" and c.picture is not None
    assert c.picture.source == kit / "dist" / "latest" / "hero" / "hero-16x9.png"
    assert run(kit, "review")[0] == 0


def test_a_changed_prompt_puts_the_job_after_new_ones_with_the_published_image_beside(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    text = KIT.replace("'a teapot'", "'a copper teapot'").replace(
        "  icon:", "  banner: {prompt: 'a banner', sizes: ['4:3']}\n  icon:"
    )
    write_manifest(kit, text)
    data = data_of(kit)
    assert [(j.selector, j.status) for j in data.jobs][:2] == [
        ("banner@4:3", "new"),
        ("hero@16:9", "changed"),
    ], "new, then changed, then current; manifest order within each"
    hero = data.jobs[1]
    assert not hero.candidates[0].generated, "the new prompt is not paid for yet"
    assert hero.previous is not None and hero.previous.label == "published now (v0001)"
    assert run(kit, "build")[0] == 0
    hero = next(j for j in data_of(kit).jobs if j.asset == "hero")
    assert hero.status == "current" and hero.candidates[0].generated
    assert hero.previous is not None and hero.previous.label == "before (v0001)"


def test_an_approved_job_whose_inputs_changed_is_held_and_listed_first(kit: Path, run: Run) -> None:
    assert run(kit, "build")[0] == 0
    lock_path = kit / "brandkit.lock"
    lock = read_lock(lock_path)
    approved = {
        p: dataclasses.replace(e, approved_key=e.key) if p.startswith("icon/") else e
        for p, e in lock.items()
    }
    write_lock(lock_path, approved)
    assert next(j for j in data_of(kit).jobs if j.asset == "icon").candidates[0].approved
    write_manifest(kit, KIT.replace("'an icon'", "'a round icon'"))
    data = data_of(kit)
    assert (data.jobs[0].asset, data.jobs[0].status) == ("icon", "held")
    assert data.jobs[0].previous is not None, "the approved image beside the new candidates"


def test_candidates_recorded_in_the_lock_are_listed_by_their_keys_with_the_chosen_one(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    lock_path = kit / "brandkit.lock"
    lock = read_lock(lock_path)
    write_lock(
        lock_path,
        {
            p: dataclasses.replace(e, candidates=3, candidate=1) if p.startswith("hero/") else e
            for p, e in lock.items()
        },
    )
    project = Project.at(kit)
    hero_job = next(j for j in load(project, {}).jobs if j.asset == "hero")
    hero = next(j for j in data_of(kit).jobs if j.asset == "hero")
    assert [c.key for c in hero.candidates] == [
        hero_job.key,
        content_key(hero_job.provider, hero_job.model, hero_job.spec, 2),
        content_key(hero_job.provider, hero_job.model, hero_job.spec, 3),
    ]
    assert [c.chosen for c in hero.candidates] == [True, False, False]
    assert [c.generated for c in hero.candidates] == [True, False, False]


@dataclasses.dataclass(frozen=True)
class Choice:
    """The fields of the candidates engine's Choice the page reads (review_data.ChoiceLike)."""

    keys: tuple[str, ...]
    chosen: int
    approved_key: str | None
    held: bool


def test_the_engine_s_choice_decides_candidates_chosen_approved_and_held(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    project = Project.at(kit)
    loaded = load(project, {})
    hero = loaded.jobs[0]
    second = content_key(hero.provider, hero.model, hero.spec, 2)
    choice = Choice((hero.key, second), chosen=2, approved_key=hero.key, held=True)
    with Cache(project.cache_dir) as cache:
        data = gather(
            project, loaded.jobs, cache, project.read_lock(), title="Tea", kit="tea",
            assets=["hero", "social", "icon"], choices={hero.key: choice},
        )  # fmt: skip
    job = data.jobs[0]
    assert (job.asset, job.status) == ("hero", "held"), "another pick than the approved one"
    assert [(c.index, c.chosen, c.approved) for c in job.candidates] == [
        (1, False, True),
        (2, True, False),
    ]


def test_review_writes_small_previews_by_key_and_prunes_the_ones_no_job_shows(
    kit: Path, run: Run
) -> None:
    assert run(kit, "build")[0] == 0
    code, out, _ = run(kit, "review")
    assert code == 0 and out.strip().endswith("review.html")
    page = kit / "dist" / "review.html"
    html = page.read_text("utf-8")
    shown = set(re.findall(r"<img src='(review/[^']+)'", html))
    on_disk = {f"review/{p.name}" for p in (kit / "dist" / "review").iterdir()}
    assert shown == on_disk and len(shown) == 4, "one preview per job's master"
    for name in shown:
        with Image.open(kit / "dist" / name) as im:
            assert im.format == "WEBP" and max(im.size) <= PREVIEW
    stale = kit / "dist" / "review" / "0000000000000000-000000000000.webp"
    stale.write_bytes(b"old")
    assert run(kit, "review")[0] == 0
    assert not stale.exists(), "previews nothing shows are removed"
    assert not [p for p in (kit / "dist").iterdir() if p.name.startswith(".")], "no temp left"


def test_review_refuses_a_previews_folder_that_is_a_symlink(
    kit: Path, run: Run, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.webp").write_bytes(b"x")
    (kit / "dist").mkdir()
    (kit / "dist" / "review").symlink_to(outside)
    code, _, err = run(kit, "review")
    assert code == 1 and "dist/review is a symlink" in err
    assert (outside / "keep.webp").exists(), "nothing outside the project is deleted"


HOSTILE = "<script>alert(1)</script>' onerror='alert(2)\" <img src=x>&amp;"


def hostile_data(tmp_path: Path) -> ReviewData:
    source = tmp_path / "m.png"
    Image.new("RGB", (64, 36)).save(source)
    picture = Picture(source, "ab" * 32, 64, 36, "png", "k-ab.webp")
    job = ReviewJob(
        selector="social[flavour=it's]@16:9",
        key="c" * 64,
        asset="social",
        matrix=(("flavour", HOSTILE),),
        ratio="16:9",
        status="changed",
        width=1344,
        height=768,
        prompt=HOSTILE,
        provider="local",
        model=HOSTILE,
        outputs=["social/a.png"],
        candidates=[
            ReviewCandidate(1, "c" * 64, True, False, picture),
            ReviewCandidate(2, "d" * 64, False, False, picture),
            ReviewCandidate(3, "e" * 64, False, False, None),
        ],
        previous=Previous(HOSTILE, picture),
    )
    return ReviewData(title=HOSTILE, kit=HOSTILE, version="v0002", assets=["social"], jobs=[job])


def test_user_text_in_prompts_titles_and_selectors_never_becomes_markup(tmp_path: Path) -> None:
    html = render_review(hostile_data(tmp_path))
    assert "<script>alert" not in html and "<img src=x>" not in html
    assert "onerror='alert" not in html and "&amp;amp;" in html
    assert html.count("<script>") == 1, "only the page's own script"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pick_and_approve_commands_quote_the_selector_for_the_shell(tmp_path: Path) -> None:
    html = render_review(hostile_data(tmp_path))
    values = re.findall(r"<input id='[^']+' readonly value='([^']*)'", html)
    selector = "&#x27;social[flavour=it&#x27;&quot;&#x27;&quot;&#x27;s]@16:9&#x27;"
    assert values == [f"brandkit pick {selector} 2", f"brandkit approve {selector}"], (
        "a pick for each generated candidate not chosen, an approve for the job; none "
        "for a candidate not generated yet"
    )
    assert "✓ chosen" in html and "not generated yet" in html


def test_every_image_has_alt_text_and_its_true_size(tmp_path: Path) -> None:
    html = render_review(hostile_data(tmp_path))
    imgs = re.findall(r"<img [^>]*>", html)
    assert len(imgs) == 3
    assert all(re.search(r"alt='[^']+'", i) and "width=64 height=36" in i for i in imgs)


def test_write_review_replaces_the_page_atomically(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    page = write_review(dist, hostile_data(tmp_path))
    assert page == dist / "review.html" and page.read_text("utf-8").startswith("<!doctype")
    assert sorted(p.name for p in (dist / "review").iterdir()) == ["k-ab.webp"]
    assert sorted(p.name for p in dist.iterdir()) == ["review", "review.html"]


def test_an_svg_master_is_previewed_as_its_sanitised_drawing(tmp_path: Path) -> None:
    source = tmp_path / "m.svg"
    source.write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 9' width='16' height='9'>"
        "<script>alert(1)</script><rect width='16' height='9' fill='#123' onclick='x()'/>"
        "</svg>"
    )
    data = hostile_data(tmp_path)
    svg = Picture(source, "cd" * 32, 1344, 768, "svg", "k-cd.svg")
    data.jobs[0].candidates[1] = ReviewCandidate(2, "d" * 64, False, False, svg)
    write_review(tmp_path / "dist", data)
    preview = (tmp_path / "dist" / "review" / "k-cd.svg").read_text("utf-8")
    assert "<rect" in preview and "script" not in preview and "onclick" not in preview
    assert "<img src='review/k-cd.svg' width=1344 height=768" in render_review(data)


def test_a_kit_with_another_manifest_name_gets_commands_that_name_it(
    tmp_path: Path, run: Run
) -> None:
    root = tmp_path / "k"
    root.mkdir()
    (root / "kit.yaml").write_text(KIT, "utf-8")
    assert run(root, "-f", "kit.yaml", "build")[0] == 0
    assert run(root, "-f", "kit.yaml", "review")[0] == 0
    html = (root / "dist" / "review.html").read_text("utf-8")
    assert "value='brandkit -f kit.yaml approve hero@16:9'" in html

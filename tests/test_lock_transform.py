"""The lock records how each output was cut (fit, ico sizes, a text's content), so that a
kit whose cache is gone (a fresh clone, a CI runner) still sees a changed `fit`: the
published bytes were cut another way and are not up to date. A version-1 lock, which
did not record it, is still read and trusted as before, so upgrading costs nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.errors import BrandkitError
from pipeline.index import read_index
from pipeline.lockfile import read_lock
from tests.conftest import Run
from tests.test_build import statuses

BANNER = "email-banner/email-banner-600x200.jpg"


def contain_the_banner(project: Path) -> None:
    manifest = project / "brandkit.yaml"
    text = manifest.read_text()
    old = '    sizes: ["600x200"]\n    format: jpg\n'
    assert old in text
    manifest.write_text(text.replace(old, old + '    fit: contain\n    pad: "#FFFFFF"\n'))


def test_the_lock_records_the_cut_of_fitted_icon_and_text_outputs_only(
    built_sample: Path,
) -> None:
    lock = read_lock(built_sample / "brandkit.lock")
    header = json.loads((built_sample / "brandkit.lock").read_text().splitlines()[0])
    assert header["brandkit_lock"] == 2
    assert lock["hero/hero-16x9.png"].transform == ""  # plain: nothing written
    assert '"transform"' not in json.dumps(
        [line for line in (built_sample / "brandkit.lock").read_text().splitlines()
         if '"hero/hero-16x9.png"' in line]
    )  # fmt: skip
    for path in ("app-icon/app-icon.ico", "favicon/site.webmanifest", "favicon/favicon.ico"):
        assert len(lock[path].transform or "") == 16, path
    index = json.loads((built_sample / "dist/latest/index.json").read_text())
    by_path = {o["path"]: o for o in index["outputs"]}
    assert by_path["app-icon/app-icon.ico"]["transform"] == lock["app-icon/app-icon.ico"].transform
    assert by_path["hero/hero-16x9.png"]["transform"] == "", "the index says plain, not unknown"


def test_a_changed_fit_is_stale_even_when_the_cache_is_gone(run: Run, built_sample: Path) -> None:
    contain_the_banner(built_sample)
    shutil.rmtree(built_sample / ".brandkit")  # a fresh clone: dist and the lock, no cache
    planned = statuses(run, built_sample)
    assert planned.get("generate") == {"email-banner"}, "its master is gone with the cache"
    (banner,) = [j for j in run.json(built_sample, "plan")["jobs"] if j["status"] == "generate"]
    assert banner["reason"] == (
        "cut changed (fit, pad, safe_zone, ico sizes or text), and the master is in no cache"
    )
    assert "email-banner" not in planned.get("reuse", set())
    code, out, _ = run(built_sample, "status", "--check")
    assert code == 1 and f"cut changed (fit, pad, safe_zone, ico sizes or text): {BANNER}" in out


def test_a_changed_fit_with_the_cache_is_cut_again_for_nothing(
    run: Run, built_sample: Path
) -> None:
    before = read_lock(built_sample / "brandkit.lock")[BANNER]
    contain_the_banner(built_sample)
    code, out, _ = run(built_sample, "status", "--check")
    assert code == 1 and f"cut changed (fit, pad, safe_zone, ico sizes or text): {BANNER}" in out
    assert statuses(run, built_sample)["derive"] == {"email-banner"}
    code, out, err = run(built_sample, "build")
    assert code == 0 and "generated 0" in out, err
    after = read_lock(built_sample / "brandkit.lock")[BANNER]
    assert after.transform not in ("", before.transform) and after.sha256 != before.sha256
    shutil.rmtree(built_sample / ".brandkit")
    assert set(statuses(run, built_sample)) == {"reuse"}, "the lock names the new cut"


def test_a_version_1_lock_without_a_cache_is_trusted_and_rewritten_by_the_next_build(
    run: Run, built_sample: Path
) -> None:
    lock = built_sample / "brandkit.lock"
    as_version_1(built_sample)
    assert all(e.transform is None for e in read_lock(lock).values()), "not known"
    shutil.rmtree(built_sample / ".brandkit")
    assert set(statuses(run, built_sample)) == {"reuse"}, "upgrading pays nothing"
    code, out, err = run(built_sample, "build")
    assert code == 0 and "generated 0" in out, err
    assert json.loads(lock.read_text().splitlines()[0])["brandkit_lock"] == 2
    assert len(read_lock(lock)["app-icon/app-icon.ico"].transform or "") == 16


def as_version_1(project: Path) -> None:
    """The lock and dist/latest's index as a brandkit before `transform` wrote them."""
    lock = project / "brandkit.lock"
    lines = [json.dumps({"brandkit_lock": 1, "note": "an older brandkit's lock"})]
    for line in lock.read_text().splitlines()[1:]:
        item = json.loads(line) if line else None
        if item is not None:
            item.pop("transform", None)
        lines.append(json.dumps(item) if item is not None else "")
    lock.write_text("\n".join(lines) + "\n")
    index = (project / "dist" / "latest" / "index.json").resolve()
    data = json.loads(index.read_text())
    for o in data["outputs"]:
        o.pop("transform", None)
    index.chmod(0o644)
    index.write_text(json.dumps(data))
    index.chmod(0o444)


def test_a_partial_build_after_upgrading_keeps_the_cuts_it_did_not_see_unknown(
    run: Run, built_sample: Path
) -> None:
    """`build --only` carries the other outputs from an older index that never recorded
    their cut: the lock says so (null), and a fresh clone still trusts them."""
    as_version_1(built_sample)
    hero = built_sample / "brandkit.yaml"
    hero.write_text(hero.read_text().replace("#0F3B4C", "#0F3B4D"))
    code, _, err = run(built_sample, "build", "--only", "story")
    assert code == 0, err
    lock = read_lock(built_sample / "brandkit.lock")
    assert lock["app-icon/app-icon.ico"].transform is None, "carried: not known, not plain"
    assert '"transform": null' in (built_sample / "brandkit.lock").read_text()
    hero.write_text(hero.read_text().replace("#0F3B4D", "#0F3B4C"))
    shutil.rmtree(built_sample / ".brandkit")
    planned = statuses(run, built_sample)
    assert "generate" not in planned or "app-icon" not in planned["generate"]
    assert {"app-icon", "favicon"} <= planned["reuse"], "nothing paid for the upgrade"


def test_an_index_whose_transform_is_not_a_string_is_not_a_brandkit_index(
    tmp_path: Path,
) -> None:
    output = {
        "path": "a.png", "key": "k" * 64, "sha256": "a" * 64, "width": 1, "height": 1,
        "format": "png", "provider": "local", "model": "m",
    }  # fmt: skip
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"outputs": [{**output, "transform": "0123456789abcdef"}]}))
    assert read_index(index, "index.json") is not None
    index.write_text(json.dumps({"outputs": [{**output, "transform": 5}]}))
    with pytest.raises(BrandkitError, match=r"outputs\[0\]: transform must be a string"):
        read_index(index, "index.json")


def test_a_revert_served_by_the_cache_is_shown_as_a_change_not_as_up_to_date(
    run: Run, built_sample: Path
) -> None:
    manifest = built_sample / "brandkit.yaml"
    original = manifest.read_text()
    manifest.write_text(original.replace("tea spilling", "tea pouring"))
    assert run(built_sample, "build")[0] == 0  # v0002: the new prompt
    manifest.write_text(original)  # git revert: v0001's images are all still cached
    story = [j for j in run.json(built_sample, "plan")["jobs"] if j["asset"] == "story"]
    assert [(j["status"], j["reason"]) for j in story] == [
        ("reuse", 'from the cache: prompt +"spilling" -"pouring"')
    ]
    code, out, _ = run(built_sample, "plan")
    assert code == 0
    assert 'reuse    story 768x1344 [local/recraft-v4] from the cache: prompt +"spilling"' in out
    assert "         -> story/story-9x16.webp" in out
    assert "(38 files: 0 to write, 38 reused (1 from the cache))" in out
    code, out, _ = run(built_sample, "build")
    assert code == 0 and "generated 0" in out and "published dist/v0003" in out
    contain_the_banner(built_sample)
    assert run(built_sample, "build")[0] == 0
    manifest.write_text(original)  # the cover cut is cached too
    (banner,) = [j for j in run.json(built_sample, "plan")["jobs"] if j["asset"] == "email-banner"]
    assert (banner["status"], banner["reason"]) == (
        "reuse",
        "from the cache: cut changed (fit, pad, safe_zone, ico sizes or text)",
    )

"""Selectors name jobs for `pick`, `approve` and the review page (DESIGN: "Candidates,
review and approval"), against the sample kit's real jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import workflow
from pipeline.jobs import Job
from pipeline.project import Project
from pipeline.selectors import (
    SelectorError,
    job_ratio,
    parse_selector,
    select,
    select_all,
    selector_of,
)


@pytest.fixture
def jobs(sample: Path) -> list[Job]:
    return workflow.load(Project.at(sample), {}).jobs


def names(jobs: list[Job]) -> list[str]:
    return [selector_of(job) for job in jobs]


def test_an_asset_id_selects_every_job_of_that_asset(jobs: list[Job]) -> None:
    chosen = select(parse_selector("social"), jobs)
    assert len(chosen) == 12, "3 flavours x 2 seasons x 2 native ratios (1:1 and 4:5)"
    assert {job.asset for job in chosen} == {"social"}


def test_a_matrix_combination_and_a_ratio_narrow_to_one_job(jobs: list[Job]) -> None:
    chosen = select(parse_selector("social[flavour=sencha,season=spring]@1:1"), jobs)
    assert names(chosen) == ["social[flavour=sencha,season=spring]@1:1"]
    assert len(select(parse_selector("social[season=spring]"), jobs)) == 6, "3 x 2 ratios"


def test_matrix_pairs_may_come_in_any_order_and_ratios_unreduced(jobs: list[Job]) -> None:
    one = select(parse_selector("social[season=spring, flavour=sencha]@2:2"), jobs)
    assert names(one) == ["social[flavour=sencha,season=spring]@1:1"]


def test_a_job_ratio_is_the_one_the_manifest_wrote_not_the_reduced_pixels(
    jobs: list[Job],
) -> None:
    (hero_wide,) = [j for j in jobs if j.asset == "hero" and j.spec.width == 2688]
    assert (hero_wide.spec.width, hero_wide.spec.height) == (2688, 1536)  # reduces to 7:4
    assert job_ratio(hero_wide) == "16:9"
    assert select(parse_selector("hero@16:9"), jobs) == [hero_wide]


def test_every_job_has_a_selector_naming_it_alone(jobs: list[Job]) -> None:
    for job in jobs:
        assert select(parse_selector(selector_of(job)), jobs) == [job]


def test_a_key_prefix_of_eight_hex_digits_selects_by_content_key(jobs: list[Job]) -> None:
    job = jobs[3]
    assert select(parse_selector(job.key[:8]), jobs) == [job]
    assert select(parse_selector(job.key[:12].upper()), jobs) == [job]


def test_a_shorter_prefix_is_an_asset_name_not_a_key(jobs: list[Job]) -> None:
    with pytest.raises(SelectorError) as caught:
        select(parse_selector(jobs[0].key[:7]), jobs)
    assert caught.value.exit_code == 2
    assert "assets: app-icon, email-banner, favicon, hero, logo, social, story" in str(caught.value)


def test_no_match_says_what_exists_for_that_asset(jobs: list[Job]) -> None:
    with pytest.raises(SelectorError) as caught:
        select(parse_selector("social[flavour=matcha]"), jobs)
    message = str(caught.value)
    assert "flavour: earl-grey, rooibos, sencha" in message
    assert "season: autumn, spring" in message
    assert "ratios: 1:1, 4:5" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Social", "expected ASSET"),
        ("social[flavour]", "name=value pairs"),
        ("social[flavour=a,flavour=b]", "flavour is given twice"),
        ("social@1:0", "zero side"),
        ("social@wide", "expected ASSET"),
        ("", "expected ASSET"),
    ],
)
def test_a_malformed_selector_is_a_usage_error_saying_what_is_valid(text: str, says: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert caught.value.exit_code == 2 and says in str(caught.value)


def test_an_asset_named_in_hex_is_that_asset_not_a_key_prefix(jobs: list[Job]) -> None:
    twin = Job(
        key="f" * 64, asset="deadbeef", provider="local", model="m",
        spec=jobs[0].spec, outputs=(),
    )  # fmt: skip
    assert select(parse_selector("deadbeef"), [*jobs, twin]) == [twin]
    assert select(parse_selector("ffffffff"), [*jobs, twin]) == [twin], "no asset: a key"


def test_several_selectors_name_each_job_once_in_manifest_order(jobs: list[Job]) -> None:
    chosen = select_all(["story", "hero@1:1", "story", jobs[0].key[:10]], jobs)
    assert chosen == [j for j in jobs if j in chosen]
    assert len(chosen) == len({j.key for j in chosen}) == 3

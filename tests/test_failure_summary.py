"""A failed build explains itself: each failure names its matrix combination (the selector
`pick`, `approve` and `log` accept), the same cause for several jobs is said once with a
count, and the summary says what to do next and what is kept. Against the loopback
emulator (paid counts from it) and the local provider."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Run, project, write_manifest
from tests.emulator import Emulator
from tests.test_failures import FlakyLocal, flaky  # noqa: F401  (the fixture)


def test_one_refusal_for_several_jobs_is_said_once_with_a_count_and_their_selectors(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "recraft")
    remote.inject("recraft", "content_refusal", times=2)
    code, out, err = run(p, "build", "-j", "1")
    assert code == 1
    (line,) = [x for x in err.splitlines() if "failed" in x and "(recraft)" in x]
    found = re.fullmatch(r"failed: 2 jobs \(recraft\): (.+) \((\S+), (\S+)\)", line)
    assert found, line
    assert {found[2], found[3]} <= {"hero@16:9", "icon@1:1", "banner@4:3"}
    summary = [x for x in err.splitlines() if not x.startswith("[")]  # not progress lines
    assert sum(found[1] in x for x in summary) == 1, "the cause once, not once per job"
    assert remote.paid_by_provider.get("recraft", 0) == 1
    assert "generated 1, up to date 0, failed 2 (3 jobs); " in out
    assert (
        "next: fix the cause above and run brandkit build again: the 1 job done is kept "
        "(cached), only what failed is retried\n"
    ) in err

    code, out, err = run(p, "build")
    assert code == 0, err
    assert remote.paid_by_provider["recraft"] == 3, "the job done was kept: 2 paid again"
    assert "next:" not in err


def test_different_causes_are_each_named_with_the_job_s_combination(
    run: Run,
    tmp_path: Path,
    flaky: type[FlakyLocal],  # noqa: F811
) -> None:
    write_manifest(
        tmp_path,
        "kit: {name: fail}\n"
        "assets:\n"
        "  tiles:\n"
        "    prompt: 'a {{ subject }} tile'\n"
        "    matrix: {subject: [teapot, cup]}\n"
        "    sizes: ['1:1']\n",
    )
    code, out, err = run(tmp_path, "build")
    assert code == 1
    assert (
        "failed: tiles[subject=teapot]@1:1 (local): local: content policy: teapots are "
        "not allowed\n"
    ) in err
    assert "generated 1, up to date 0, failed 1 (2 jobs); 1 files: 1 written, 0 reused" in out
    assert "the 1 job done is kept" in err


def test_a_build_where_everything_failed_says_only_to_fix_and_build_again(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "recraft")
    remote.inject("recraft", "content_refusal", times=None)
    code, _, err = run(p, "build", "-j", "1")
    assert code == 1 and remote.paid_by_provider.get("recraft", 0) == 0
    assert re.search(r"^failed: 3 jobs \(recraft\): .+ \(", err, re.M), err
    assert "next: fix the cause above and run brandkit build again\n" in err

"""How brandkit talks to providers at volume: Runware tasks are submitted and polled
together, and a finished image is downloaded outside the provider's concurrency slot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Run, journal, project
from tests.emulator import Emulator


def runware_polls(remote: Emulator) -> list[list[str]]:
    """The task UUIDs asked about by each getResponse request, in order."""
    polls = []
    for r in remote.requests_for("runware"):
        tasks = [t for t in r.json or [] if t.get("taskType") == "getResponse"]
        if tasks and len(tasks) == len(r.json):
            polls.append([t["taskUUID"] for t in tasks])
    return polls


def runware_submits(remote: Emulator) -> list[list[str]]:
    """The task UUIDs carried by each imageInference request, in order."""
    return [
        [t["taskUUID"] for t in r.json]
        for r in remote.requests_for("runware")
        if any(t.get("taskType") == "imageInference" for t in r.json or [])
    ]


CONCURRENCY_3 = "providers:\n  runware: {concurrency: 3}\n"


def test_jobs_that_start_together_are_submitted_in_one_request(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert [len(uuids) for uuids in runware_submits(remote)] == [3]
    assert remote.paid_by_provider["runware"] == 3


def test_one_tasks_refusal_in_a_shared_submission_fails_only_that_task(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """The answer is HTTP 400 naming one task: that task fails with its own error, not
    sent again; the others, which the refusal does not name, go on (each is asked on its
    own and answers conflictTaskUUID: it exists, nothing is paid twice)."""
    remote.inject("runware", "content_refusal", at_submit=True)
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, out, err = run(p, "build")
    assert code == 1
    assert re.findall(r"^failed: .*", err, re.M) and "contentPolicyViolation" in err
    assert len(re.findall(r"^failed: ", err, re.M)) == 1
    assert re.search(r"generated 2, .* failed 1", out)
    assert remote.paid_by_provider["runware"] == 2
    submits = runware_submits(remote)
    refused = submits[0][0]  # the first task of the shared request drew the refusal
    assert [len(u) for u in submits] == [3, 1, 1]
    assert refused not in submits[1] + submits[2], "a refused task is not sent again"


def test_a_shared_submission_whose_answer_is_lost_is_not_paid_twice(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """The tasks were created but the answer never came: the retry resends them, each
    answers conflictTaskUUID, and all three are collected as they are."""
    remote.inject("runware", "drop", on="submit", after=True)
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider["runware"] == 3
    assert [len(u) for u in runware_submits(remote)][:2] == [3, 3]


def test_a_shared_submission_refused_for_the_key_is_not_sent_again(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "rw-WRONG-key")
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, _, err = run(p, "build")
    assert code == 1
    failed = re.findall(r"^failed: .*invalidApiKey.*$", err, re.M)
    assert len(failed) == 1 and failed[0].endswith(": 2 more jobs refused"), err
    assert len(remote.requests_for("runware")) == 1
    assert remote.paid_by_provider["runware"] == 0


def test_running_tasks_are_polled_in_one_request(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.latency = 0.3
    p = project(tmp_path, "runware", extra="providers:\n  runware: {concurrency: 3}\n")
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    polls = runware_polls(remote)
    assert max(len(uuids) for uuids in polls) == 3, "the three running tasks share a request"
    asked = [u for uuids in polls for u in uuids]
    assert len(polls) < len(asked)
    assert all(len(set(uuids)) == len(uuids) for uuids in polls), "no task asked twice at once"
    assert remote.paid_by_provider["runware"] == 3


def test_one_tasks_error_in_a_shared_poll_fails_only_that_task(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.latency = 0.2
    remote.inject("runware", "job_failed")  # the first task submitted fails at the provider
    p = project(tmp_path, "runware", extra="providers:\n  runware: {concurrency: 3}\n")
    code, out, err = run(p, "build")
    assert code == 1
    assert len(re.findall(r"^failed: ", err, re.M)) == 1
    assert "inferenceError" in err
    assert re.search(r"generated 2, .* failed 1", out)
    assert max(len(uuids) for uuids in runware_polls(remote)) > 1


def test_a_shared_poll_refused_as_a_whole_is_asked_again_task_by_task(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.latency = 0.2
    remote.inject("runware", "status", on="poll", status=400, code="invalidRequestBody")
    p = project(tmp_path, "runware", extra="providers:\n  runware: {concurrency: 3}\n")
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider["runware"] == 3
    polls = runware_polls(remote)
    refused = next(i for i, uuids in enumerate(polls) if len(uuids) > 1)
    assert [len(u) for u in polls[refused + 1 : refused + 1 + len(polls[refused])]] == [1] * len(
        polls[refused]
    ), "the refused batch is re-asked one task at a time"


def test_a_slow_download_does_not_hold_the_providers_slot(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """With one slot, the next task is submitted while the first image still downloads."""
    remote.inject("runware", "slow", on="download", seconds=0.8)
    p = project(tmp_path, "runware", extra="providers:\n  runware: {concurrency: 1}\n")
    code, _, err = run(p, "build")
    assert code == 0, err
    submits = [
        r
        for r in remote.requests_for("runware")
        if any(t.get("taskType") == "imageInference" for t in r.json or [])
    ]
    downloads = [r for r in remote.requests if r.method == "GET" and "/files/" in r.path]
    assert len(submits) == 3 and len(downloads) == 3
    first_download = downloads[0]
    # the slowed download cannot have finished before `at + 0.8`
    assert submits[1].at < first_download.at + 0.8
    assert remote.max_in_flight == 1


def test_the_next_submission_goes_out_before_the_finished_images_download(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A freed slot is put to use first: the download of the image that freed it waits
    until the job it woke has submitted (handoff.py), for a Runware task and a PixelDojo
    job alike."""
    for provider in ("runware", "pixeldojo"):
        remote.reset()
        p = project(
            tmp_path / provider, provider, extra=f"providers:\n  {provider}: {{concurrency: 1}}\n"
        )
        code, _, err = run(p, "build")
        assert code == 0, err
        submits = [
            r
            for r in remote.requests_for(provider)
            if r.method == "POST"
            and (provider != "runware" or r.json[0].get("taskType") == "imageInference")
        ]
        downloads = [r for r in remote.requests if r.method == "GET" and "/files/" in r.path]
        assert len(submits) == 3 and len(downloads) == 3
        for submitted, download in zip(submits[1:], downloads, strict=False):
            assert submitted.at < download.at, provider


def download_keeps_failing(run: Run, tmp_path: Path, remote: Emulator, provider: str) -> Path:
    """A build of three jobs, one slot, in which every attempt at one download breaks."""
    remote.inject(provider, "truncated_image", times=5)
    p = project(tmp_path, provider, extra=f"providers:\n  {provider}: {{concurrency: 1}}\n")
    code, out, err = run(p, "build")
    assert code == 1
    assert "could not download the image" in err
    assert re.search(r"generated 2, .* failed 1", out)
    return p


@pytest.mark.parametrize("provider", ["runware", "cloudflare"])
def test_a_paid_image_that_never_downloads_is_collected_by_the_next_build(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    """The job fails, but it stays journaled, and the next build fetches the image again
    instead of paying for another: Runware's by its task, Cloudflare's (synchronous, so
    it can't be asked again) by the image URL journaled as soon as it was paid for.
    (Recraft's images come inline, with the answer.)"""
    p = download_keeps_failing(run, tmp_path, remote, provider)
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 1" in out
    assert remote.paid_by_provider[provider] == 3, "the failed download was not paid twice"
    assert not (p / ".brandkit" / "journal.jsonl").exists()


def test_an_expired_link_in_the_journal_is_generated_again(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = download_keeps_failing(run, tmp_path, remote, "cloudflare")
    (entry,) = journal(p).values()
    entry["url"] = entry["url"].rsplit("/", 1)[0] + "/00000000-gone.png"
    with open(p / ".brandkit" / "journal.jsonl", "a") as f:  # the last line wins
        f.write(json.dumps(entry) + "\n")
    code, _, err = run(p, "build")
    assert code == 1
    assert "expired" in err and "HTTP 404" in err
    assert not journal(p)
    assert remote.paid_by_provider["cloudflare"] == 3
    code, _, err = run(p, "build")
    assert code == 0, err
    assert remote.paid_by_provider["cloudflare"] == 4, "nothing left to collect: paid again"


def test_polls_come_four_times_as_often_around_when_tasks_have_been_finishing() -> None:
    """A task is asked about on the policy's schedule, except from one first interval
    before the run time at which most recent tasks were seen done until the last of
    them (the middle half): there, every quarter interval, so a finished task is noticed
    sooner at little cost (the round is shared by every running task)."""
    from pipeline.providers.http import PollPolicy
    from pipeline.providers.runware_batch import Poller

    async def send(tasks: list[dict]) -> dict:
        raise AssertionError("not sent")

    policy = PollPolicy(first=0.04, fraction=0.05, cap=0.4)
    poller = Poller(send, policy)
    assert poller._next(0.1) == policy.delay(0.1), "nothing learned yet"
    poller._finished = [0.52, 0.50, 0.55]
    assert poller._next(0.1) == policy.delay(0.1), "long before: the policy's pace"
    assert poller._next(0.45) == 0.01, "from one interval before the earliest"
    assert poller._next(0.54) == 0.01
    assert poller._next(0.6) == policy.delay(0.6), "past the latest: the policy's pace"
    poller._finished = [0.01, *[0.5] * 10, 5.0]  # a resumed task, a straggler
    assert poller._next(0.1) == policy.delay(0.1), "outliers don't widen the window"
    assert poller._next(1.0) == policy.delay(1.0)
    assert poller._next(0.47) == 0.01

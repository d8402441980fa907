"""Runware and PixelDojo as their documents describe them (providers.md 1.3, 3, 6, 7):
a re-submitted taskUUID answers conflictTaskUUID, a failed task may come back as a `data`
item, an unknown task looks like a running one, PixelDojo's completed jobs come in three
shapes, its polls are paced, and its key never follows a statusUrl to another origin."""

from __future__ import annotations

import os
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import Run, journal, project, write_manifest
from tests.emulator import Emulator
from tests.emulator.foreign import POLL_INTERVAL
from tests.test_polling import runware_polls, runware_submits

ONE_AT_A_TIME = "providers:\n  runware: {concurrency: 1}\n"
CONCURRENCY_3 = "providers:\n  runware: {concurrency: 3}\n"


def polls_of(remote: Emulator, task_uuid: str) -> int:
    return sum(uuids.count(task_uuid) for uuids in runware_polls(remote))


# --- 1. conflictTaskUUID ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [{"fault": "drop"}, {"fault": "status", "status": 502}], ids=["drop", "502"]
)
def test_a_retried_submission_that_meets_conflict_is_collected_not_paid_again(
    run: Run, tmp_path: Path, remote: Emulator, fault: dict[str, Any]
) -> None:
    """The task was accepted (and charged), its answer lost; the retry carries the same
    taskUUID, Runware answers conflictTaskUUID, and the task is polled and collected."""
    remote.inject("runware", on="submit", after=True, **fault)
    p = project(tmp_path, "runware", extra=ONE_AT_A_TIME)
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider["runware"] == 3
    submits = runware_submits(remote)
    assert submits[0] == submits[1], "the retry resends the same task"
    assert len(submits) == 4
    assert polls_of(remote, submits[0][0]) >= 1, "the conflicting task is polled"


def test_a_retried_shared_submission_that_meets_conflict_is_collected(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "status", on="submit", status=503, after=True)
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider["runware"] == 3
    submits = runware_submits(remote)
    assert [len(u) for u in submits] == [3, 3] and submits[0] == submits[1]


def test_a_conflict_on_a_first_attempt_is_a_real_error(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A taskUUID reused by the client: collecting it would hand one job another job's
    image. The second job fails with Runware's code; nothing is paid for it."""
    same = uuid.uuid4()
    monkeypatch.setattr("pipeline.providers.runware.uuid.uuid4", lambda: same)
    p = project(tmp_path, "runware", extra=ONE_AT_A_TIME)
    code, _, err = run(p, "build")
    assert code == 1
    assert len(re.findall(r"^failed: 2 jobs \(runware\): .*conflictTaskUUID", err, re.M)) == 1, err
    assert remote.paid_by_provider["runware"] == 1
    assert len(runware_submits(remote)) == 3, "each refused task was sent once"


# --- 2. a failed task as a `data` item ------------------------------------------------


def test_a_failed_task_reported_in_data_fails_at_once(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "job_failed", in_data=True, message="The model gave up: no")
    p = project(tmp_path, "runware", extra=ONE_AT_A_TIME)
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "60")
    assert code == 1
    assert "The model gave up: no (inferenceError)" in err
    assert "--max-wait" not in err
    ((task,),) = runware_submits(remote)
    assert polls_of(remote, task) == 1, "failed at the first answer that said so"
    assert not journal(p), "the provider's last word: nothing left to collect"


def test_an_error_item_in_data_fails_only_its_task(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.latency = 0.1
    remote.inject("runware", "job_failed", in_data=True)
    p = project(tmp_path, "runware", extra=CONCURRENCY_3)
    code, out, err = run(p, "build", "--max-wait", "60")
    assert code == 1
    assert len(re.findall(r"^failed: .*inferenceError", err, re.M)) == 1, err
    assert re.search(r"generated 2, .* failed 1", out)


# --- 3. no job polls for ever -----------------------------------------------------------


def test_a_task_runware_stops_knowing_fails_at_max_wait_and_stays_journaled(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """getResponse answers `{"data": []}` for the task for ever: the job fails once
    --max-wait has passed since its submission, saying it may have been charged and how
    to collect it, and its taskUUID stays in the journal. This build never submits it
    again. The next build asks for it a few times, is never told it exists, takes it as
    never received and submits it once more."""
    remote.inject("runware", "unknown")  # the first poll: forgotten, answered as running
    p = project(tmp_path, "runware", extra=ONE_AT_A_TIME)
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "0.5")
    assert code == 1
    assert "no result after 0.5s (--max-wait)" in err
    assert "may have charged" in err and "run `brandkit build` again to collect it" in err
    ((task,),) = runware_submits(remote)
    (entry,) = journal(p).values()
    assert entry["taskUUID"] == task
    assert polls_of(remote, task) > 5, "a task of this build is never taken as unknown"
    assert remote.paid_by_provider["runware"] == 1

    first = polls_of(remote, task)
    code, _, err = run(p, "build", "--only", "hero")
    assert code == 0, err
    assert polls_of(remote, task) - first == 5, "five polls never told it exists"
    submits = runware_submits(remote)
    assert len(submits) == 2 and submits[1] != [task], "submitted once more, as a new task"
    assert remote.paid_by_provider["runware"] == 2
    assert not journal(p)


def test_a_resumed_task_that_runware_reports_running_is_waited_for(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """A task of an earlier build that Runware reports as processing is not unknown:
    polled for as long as it runs (more than the five unseen polls), collected, paid once."""
    remote.latency = 1.5
    p = project(tmp_path, "runware", extra=ONE_AT_A_TIME)
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "0.2")
    assert code == 1 and "--max-wait" in err
    ((task,),) = runware_submits(remote)
    first = polls_of(remote, task)
    code, out, err = run(p, "build", "--only", "hero")
    assert code == 0, err
    assert "collected from an earlier build" in out
    assert polls_of(remote, task) - first > 5
    assert len(runware_submits(remote)) == 1
    assert remote.paid_by_provider["runware"] == 1


def test_max_wait_is_passed_as_a_value_not_through_the_environment(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRANDKIT_MAX_WAIT", raising=False)
    p = project(tmp_path, "runware")
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "30")
    assert code == 0, err
    assert "BRANDKIT_MAX_WAIT" not in os.environ


def test_max_wait_still_caps_retry_after(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("runware", "status", status=429, retry_after=3600)
    p = project(tmp_path, "runware")
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "5")
    assert code == 1
    assert "retry after 3600s, longer than the 5s we wait (--max-wait)" in err
    assert remote.paid_by_provider["runware"] == 0


def test_a_pixeldojo_job_past_max_wait_stays_journaled(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.latency = 1.0
    p = project(tmp_path, "pixeldojo")
    code, _, err = run(p, "build", "--only", "hero", "--max-wait", "0.2")
    assert code == 1
    assert "no result after 0.2s (--max-wait)" in err and "may have charged" in err
    (entry,) = journal(p).values()
    assert entry["jobId"].startswith("job_")
    code, out, err = run(p, "build", "--only", "hero")
    assert code == 0, err
    assert "collected from an earlier build" in out
    assert remote.paid_by_provider["pixeldojo"] == 1


# --- 4. PixelDojo: output shapes, pacing ------------------------------------------------


@pytest.mark.parametrize("shape", ["images", "image", "assets"])
def test_pixeldojo_accepts_every_completed_shape(
    run: Run, tmp_path: Path, remote: Emulator, shape: str
) -> None:
    remote.providers["pixeldojo"].output_shape = shape  # type: ignore[attr-defined]
    p = project(tmp_path, "pixeldojo")
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider["pixeldojo"] == 3


@pytest.mark.slow  # a few seconds of real deadlines: CI runs it (pytest -m slow)
def test_pixeldojo_polls_are_paced_across_the_build(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve jobs at once, each wanting a poll every 0.05 s (240 a second between them):
    polls go out one per pace across the build (here 0.2 s; by default half the first
    poll interval, 0.5 s), so n polls span at least n - 1 paces. Unpaced, this test
    sees 100-300 polls within a second and fails."""
    monkeypatch.setenv("BRANDKIT_POLL_INTERVAL", "0.05")
    pace = 0.2
    if "BRANDKIT_POLL_PACE" not in os.environ:  # set it to 0 to see this test fail
        monkeypatch.setenv("BRANDKIT_POLL_PACE", str(pace))
    remote.latency = 1.0  # longer than submitting them all takes: they poll together
    subjects = ", ".join(f"s{i}" for i in range(12))
    write_manifest(
        tmp_path / "p",
        "kit: {name: paced}\nbrand: {name: Acme}\n"
        "defaults: {provider: pixeldojo, model: recraft-v4}\n"
        "assets:\n  tile:\n    prompt: 'tile {{ subject }}'\n"
        f"    matrix: {{subject: [{subjects}]}}\n    sizes: ['1:1']\n",
    )
    code, out, err = run(tmp_path / "p", "build", "-j", "12")
    assert code == 0, err
    assert "generated 12" in out
    polls = sorted(r.at for r in remote.requests_for("pixeldojo") if "/jobs/" in r.path)
    assert len(polls) >= 12
    # A loaded machine may delay the first arrivals and so shorten the span seen here by
    # a little: one pace of slack for that.
    span = polls[-1] - polls[0]
    assert len(polls) <= (span + pace) / pace + 1, (len(polls), span)


# --- 5. PixelDojo's key stays on its origin ---------------------------------------------


def test_the_poll_url_is_built_on_the_configured_base() -> None:
    from pipeline.providers.pixeldojo import poll_url

    base = "https://pixeldojo.ai/api/v1"
    foreign = {"statusUrl": "https://evil.example/api/v1/jobs/j1"}
    assert poll_url({**foreign, "jobId": "j1"}, base) == f"{base}/jobs/j1"
    assert poll_url({**foreign, "jobId": "a/../b?x"}, base) == f"{base}/jobs/a%2F..%2Fb%3Fx"
    assert poll_url(foreign, base) is None, "no jobId and another origin: never polled"
    same = {"statusUrl": "https://PIXELDOJO.ai/api/v1/jobs/j2"}
    assert poll_url(same, base) == same["statusUrl"]
    assert poll_url({"statusUrl": "http://pixeldojo.ai/api/v1/jobs/j2"}, base) is None


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]]

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"status": "completed", "output": {"images": ["http://127.0.0.1:9/x.png"]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_foreign_status_url_never_receives_the_key(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """The statusUrl points at another origin (another port on the loopback): the job is
    polled at {base}/jobs/{jobId} instead, and the foreign server hears nothing."""

    class Recorder(_Recorder):
        seen: ClassVar[list[dict[str, str]]] = []

    foreign = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=foreign.serve_forever, kwargs={"poll_interval": POLL_INTERVAL})
    thread.start()
    try:
        host, port = foreign.server_address[:2]
        remote.providers["pixeldojo"].status_url_base = f"http://{host!s}:{port}/api/v1"  # type: ignore[attr-defined]
        p = project(tmp_path, "pixeldojo")
        code, out, err = run(p, "build")
    finally:
        foreign.shutdown()
        foreign.server_close()
        thread.join(timeout=5)
    assert code == 0, err
    assert "generated 3" in out
    assert not any("authorization" in h for h in Recorder.seen)
    assert Recorder.seen == [], "nothing at all goes to the foreign origin"
    polls = [r for r in remote.requests_for("pixeldojo") if "/files/" not in r.path]
    assert [r.method for r in polls].count("POST") == 3
    gets = [r.path for r in polls if r.method == "GET"]
    assert gets and all(re.search(r"^/pixeldojo/api/v1/jobs/job_\w+$", path) for path in gets)

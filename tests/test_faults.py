"""Each fault the emulator can produce, and what brandkit must make of it.

Transient faults are retried and the build succeeds, paying once per image where the
protocol allows it; permanent ones become a per-job error with the provider's own
message, while the other jobs finish (--keep-going) and stay cached.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cache import Cache
from pipeline.lockfile import read_lock
from tests.conftest import Run, project
from tests.emulator import Emulator

SYNC = ["cloudflare", "recraft"]
ALL = ["runware", "cloudflare", "pixeldojo", "recraft"]
# A synchronous provider is asked again only when the answer proves the model never ran
# (tests/test_sync_providers.py has the rest).
TRANSIENT = ["429+retry-after", 429, 500, 502, 503, "503+retry-after"]
SYNC_RETRIED = ("429+retry-after", 429, "503+retry-after")


def build(run: Run, p: Path, *args: str) -> tuple[int, str, str]:
    return run(p, "build", "--keep-going", "-j", "1", *args)


def assert_cache_consistent(p: Path) -> None:
    """Every cache entry points at a whole blob whose bytes hash to its name."""
    with Cache(p / ".brandkit") as cache:
        for key in cache.all_keys():
            record = cache.get(key)
            assert record is not None, key
            cache.read(record)  # raises if the bytes do not match the hash
    assert not list((p / ".brandkit" / "tmp").glob("*")), "no temp download left behind"


def assert_whole(p: Path) -> None:
    """Every output in the lock is published, and nothing is left half-written."""
    lock = read_lock(p / "brandkit.lock")
    assert len(lock) == 6
    for path in lock:
        assert (p / "dist" / "latest" / path).is_file()
    assert_cache_consistent(p)


@pytest.mark.parametrize(
    ("provider", "status"),
    [(p, s) for s in TRANSIENT for p in ALL if p not in SYNC or s in SYNC_RETRIED],
)
def test_transient_status_is_retried(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, status: int | str
) -> None:
    extra = {"retry_after": 0.05} if isinstance(status, str) else {}
    status = int(str(status).partition("+")[0])
    remote.inject(provider, "status", status=status, **extra)
    p = project(tmp_path, provider)
    code, _, err = build(run, p)
    assert code == 0, err
    assert remote.paid_by_provider[provider] == 3
    assert remote.pending_faults == []
    assert_whole(p)


@pytest.mark.parametrize("provider", ["runware", "pixeldojo"])
@pytest.mark.parametrize("fault", ["drop", "reset"])
def test_broken_answers_are_retried(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, fault: str
) -> None:
    remote.inject(provider, fault)
    p = project(tmp_path, provider)
    assert build(run, p)[0] == 0
    assert_whole(p)


def test_runware_never_pays_twice_for_a_lost_answer(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("runware", "drop", after=True)  # accepted and charged, answer lost
    p = project(tmp_path, "runware")
    assert build(run, p)[0] == 0
    assert remote.paid_by_provider["runware"] == 3, "the retry asked getResponse first"


@pytest.mark.parametrize("provider", ["runware", "cloudflare", "pixeldojo"])
@pytest.mark.parametrize("fault", ["truncated_image", "wrong_content_type"])
def test_bad_downloads_are_fetched_again_without_paying_again(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, fault: str
) -> None:
    remote.inject(provider, fault)
    p = project(tmp_path, provider)
    assert build(run, p)[0] == 0
    assert remote.paid_by_provider[provider] == 3
    assert_whole(p)


PROVIDER_MESSAGES = {
    ("runware", "job_failed"): "inferenceError",
    ("cloudflare", "job_failed"): "",
    ("pixeldojo", "job_failed"): "failed",
    ("recraft", "job_failed"): "",
    ("runware", "content_refusal"): "contentPolicyViolation",
    ("cloudflare", "content_refusal"): "Input flagged by content policy",
    ("pixeldojo", "content_refusal"): "Content policy violation",
    ("recraft", "content_refusal"): "content_policy_violation",
}


@pytest.mark.parametrize(
    ("provider", "fault"),
    [
        ("runware", "job_failed"),
        ("pixeldojo", "job_failed"),
        *((p, "content_refusal") for p in ALL),
    ],
)
def test_permanent_failure_is_reported_and_the_rest_are_kept(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, fault: str
) -> None:
    remote.inject(provider, fault)
    p = project(tmp_path, provider)
    code, out, err = build(run, p)
    assert code == 1
    (line,) = [x for x in err.splitlines() if x.startswith("failed: ")]
    assert f"({provider}): {provider}: " in line
    assert PROVIDER_MESSAGES[(provider, fault)] in line
    assert re.search(r"generated 2, .* failed 1", out)
    assert "nothing published" in out
    assert_cache_consistent(p)
    # the two good images are cached: the next build pays for the failed one only
    paid = remote.paid_by_provider.get(provider, 0)
    code, out, _ = build(run, p)
    assert code == 0 and "generated 1" in out
    assert remote.paid_by_provider[provider] == paid + 1
    assert_whole(p)


def test_cloudflare_daily_quota_is_not_retried(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject(
        "cloudflare", "status", status=429, code=3036, message="daily limit", retry_after=0.01
    )
    code, _, err = build(run, project(tmp_path, "cloudflare"), "--only", "hero")
    assert code == 1
    assert "(HTTP 429)" in err and "3036" in err
    assert len(remote.requests_for("cloudflare")) == 1


def test_long_retry_after_is_reported_not_slept_on(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRANDKIT_MAX_WAIT", "5")
    remote.inject("recraft", "status", status=429, retry_after=3600)
    code, _, err = build(run, project(tmp_path, "recraft"), "--only", "hero")
    assert code == 1
    assert "retry after 3600s, longer than the 5s we wait" in err


def test_persistent_outage_gives_up_with_the_providers_message(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    remote.inject("recraft", "status", status=503, retry_after=0.01, times=None)
    code, _, err = build(run, project(tmp_path, "recraft"), "--only", "hero")
    assert code == 1
    assert "gave up after 5 attempts" in err
    assert len(remote.requests_for("recraft")) == 5


def test_expired_pixeldojo_job_is_a_clear_error(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("pixeldojo", "expired")
    code, _, err = build(run, project(tmp_path, "pixeldojo"))
    assert code == 1
    assert "Job not found (HTTP 404)" in err


def test_expired_runware_task_is_a_clear_error(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("runware", "expired")
    p = project(tmp_path, "runware")
    code, _, err = build(run, p)
    assert code == 1
    assert "taskFailedOrNotFound" in err
    assert_cache_consistent(p)


def test_never_retries_a_bad_request(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("runware", "status", status=402, message="Insufficient credits")
    code, _, err = build(run, project(tmp_path, "runware"), "--only", "hero")
    assert code == 1
    assert "Insufficient credits" in err and "(HTTP 402)" in err
    assert len(remote.requests_for("runware")) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    import email.utils
    import time

    import httpx

    from pipeline.providers.http import retry_after

    def wait(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    assert wait("7") == 7.0
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = wait(later)
    assert seconds is not None and 115 <= seconds <= 121
    assert wait(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert wait("soon") is None

"""The shared remote cache (issue 16), against moto's standalone S3 server on 127.0.0.1.

Two clones are two project folders with two local caches and one bucket. Paid counts come
from the provider emulator; what the remote holds is read with boto3, beside brandkit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run, project, write_manifest
from tests.emulator import Emulator
from tests.s3server import REGION, MotoServer, Proxy, free_port

SECRET = "bk-test-SECRET-0123456789abcdef"  # the AWS secret key: must never be seen
JOBS = 3  # the kit's generations: hero 16:9, icon 1:1, banner 4:3


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the AWS environment points brandkit's remote cache at it."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BRANDKIT_REMOTE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bk-test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", REGION)
    name = f"bk-{uuid.uuid4().hex[:16]}"
    s3.client().create_bucket(Bucket=name)
    monkeypatch.setenv("BRANDKIT_REMOTE", f"s3://{name}/team/kit")
    monkeypatch.setenv("BRANDKIT_REMOTE_ENDPOINT", s3.url)
    return name


@pytest.fixture
def proxy(s3: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The remote reached through a counting proxy (which can fail on demand)."""
    p = Proxy(s3.port)
    monkeypatch.setenv("BRANDKIT_REMOTE_ENDPOINT", p.url)
    yield p
    p.stop()


def objects(s3: MotoServer, bucket: str) -> dict[str, dict]:
    """Every object in the bucket: key -> {size, sha256 (of its bytes), metadata}."""
    client = s3.client()
    found = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        got = client.get_object(Bucket=bucket, Key=item["Key"])
        data = got["Body"].read()
        found[item["Key"]] = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "metadata": got["Metadata"],
        }
    return found


def clone(tmp_path: Path, name: str) -> Path:
    """Another machine's checkout: the manifest alone (no lock, no dist, no cache)."""
    source = (tmp_path / "p" / "brandkit.yaml").read_text("utf-8")
    write_manifest(tmp_path / name, source)
    return tmp_path / name


def published(p: Path) -> dict[str, str]:
    root = (p / "dist" / "latest").resolve()
    return {
        f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file() and not f.name.startswith("index.")
    }


def keys(run: Run, p: Path) -> list[str]:
    return [j["key"] for j in run.json(p, "plan")["jobs"]]


def remote_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "remote cache" in line]


def assert_secret_nowhere(*texts: str, folders: tuple[Path, ...] = ()) -> None:
    for text in texts:
        assert SECRET not in text
    for folder in folders:
        for f in folder.rglob("*"):
            if f.is_file() and not f.is_symlink():
                assert SECRET.encode() not in f.read_bytes(), f"the AWS secret is in {f}"


# --- one bill -----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_clones_share_one_bill_and_publish_the_same_images(
    run: Run, tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    code, out_a, err_a = run(a, "build")
    assert code == 0, err_a
    assert remote.paid_generations == JOBS
    masters = {k: v for k, v in objects(s3, bucket).items() if "/masters/" in k}
    assert sorted(masters) == sorted(f"team/kit/masters/{k}" for k in keys(run, a))
    for obj in masters.values():  # content-addressed, its sha256 in the metadata
        assert obj["metadata"]["sha256"] == obj["sha256"]
    assert not [k for k in objects(s3, bucket) if "/claims/" in k], "claims are released"

    b = clone(tmp_path, "b")
    plan = run.json(b, "plan")
    assert {j["status"] for j in plan["jobs"]} == {"remote"}
    assert plan["summary"]["estimated_cost_usd"] == 0
    assert plan["summary"]["remote"] == JOBS
    code, out_b, err_b = run(b, "build", "--max-cost", "0")  # nothing will really be paid
    assert code == 0, err_b
    assert remote.paid_generations == JOBS, "the second clone paid again"
    assert published(b) == published(a)
    assert remote_warnings(err_b) == []
    lock = (b / "brandkit.lock").read_text("utf-8")
    assert_secret_nowhere(out_a, err_a, out_b, err_b, lock, folders=(a, b))


@pytest.mark.slow
def test_max_cost_counts_only_what_will_really_be_paid(
    run: Run, tmp_path: Path, remote: Emulator, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    b = clone(tmp_path, "b")
    (b / "brandkit.yaml").write_text(
        (b / "brandkit.yaml").read_text("utf-8").replace("'a banner'", "'a new banner'"),
        "utf-8",
    )
    plan = run.json(b, "plan")
    statuses = sorted(j["status"] for j in plan["jobs"])
    assert statuses == ["generate", "remote", "remote"]
    assert plan["summary"]["estimated_cost_usd"] == pytest.approx(0.04)
    code, _, err = run(b, "build", "--max-cost", "0.01")
    assert code == 1 and "$0.04 is over --max-cost $0.01" in err
    assert remote.paid_generations == JOBS


# --- what the remote says is never believed unchecked ------------------------------------


@pytest.mark.slow
def test_a_corrupted_or_truncated_remote_object_is_never_published(
    run: Run, tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    good = published(a)
    client = s3.client()
    corrupt, truncated, _ = sorted(k for k in objects(s3, bucket) if "/masters/" in k)
    for key, cut in ((corrupt, None), (truncated, 0.5)):
        got = client.get_object(Bucket=bucket, Key=key)
        data, meta = got["Body"].read(), got["Metadata"]
        data = data[: int(len(data) * cut)] if cut else data[:-64] + bytes(64)
        client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=meta)

    b = clone(tmp_path, "b")
    code, _, err = run(b, "build")
    assert code == 0, err
    assert published(b) == good, "only images checked whole are published"
    warnings = remote_warnings(err)
    assert len(warnings) == 2 and all("is not what it claims" in w for w in warnings)
    assert remote.paid_generations == JOBS + 2  # the two refused objects were paid again
    for key in (corrupt, truncated):  # ... and replaced by whole ones
        obj = objects(s3, bucket)[key]
        assert obj["metadata"]["sha256"] == obj["sha256"]


def test_read_only_uploads_nothing_and_claims_nothing(
    run: Run, tmp_path: Path, remote: Emulator, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRANDKIT_REMOTE_READ_ONLY", "1")
    a = project(tmp_path, "runware")
    code, _, err = run(a, "build")
    assert code == 0, err
    assert remote.paid_generations == JOBS
    assert proxy.requests and all(m in ("GET", "HEAD") for m, _ in proxy.requests)
    code, _, err = run(a, "cache", "push")
    assert code == 1 and "read-only" in err


# --- a remote that fails never fails a build ----------------------------------------------


@pytest.mark.parametrize("failure", ["down", "500", pytest.param("slow", marks=pytest.mark.slow)])
def test_a_remote_that_is_down_slow_or_failing_leaves_a_working_build_with_one_warning(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    proxy: Proxy,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    if failure == "down":
        monkeypatch.setenv("BRANDKIT_REMOTE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    else:
        proxy.mode, proxy.delay = failure, 5.0
        monkeypatch.setenv("BRANDKIT_REMOTE_TIMEOUT", "0.5")
    a = project(tmp_path, "runware")
    started = time.monotonic()
    code, out, err = run(a, "build")
    assert code == 0, err
    assert time.monotonic() - started < 60
    assert remote.paid_generations == JOBS
    warnings = remote_warnings(err)
    assert len(warnings) == 1, err
    assert "building with the local cache only" in warnings[0]
    assert_secret_nowhere(out, err, folders=(a,))


def test_a_no_op_build_sends_no_request_to_the_remote(
    run: Run, tmp_path: Path, remote: Emulator, proxy: Proxy
) -> None:
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    proxy.requests.clear()
    code, out, err = run(a, "build")
    assert code == 0, err
    assert "no changes" in out
    assert run(a, "plan")[0] == 0
    assert proxy.requests == []


# --- claims --------------------------------------------------------------------------------


def _claim(s3: MotoServer, bucket: str, key: str, expires_in: float) -> None:
    body = json.dumps({"expires_at": time.time() + expires_in}).encode()
    s3.client().put_object(Bucket=bucket, Key=f"team/kit/claims/{key}", Body=body)


@pytest.mark.slow
def test_an_expired_claim_does_not_stop_a_build_paying(
    run: Run, tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    for key in keys(run, a):
        _claim(s3, bucket, key, -60)  # a crashed machine's claims
    code, _, err = run(a, "build")
    assert code == 0, err
    assert remote.paid_generations == JOBS
    assert not [k for k in objects(s3, bucket) if "/claims/" in k]


@pytest.mark.slow
def test_a_live_claim_is_waited_for_only_up_to_the_bound(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    s3: MotoServer,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRANDKIT_REMOTE_WAIT", "1")
    a = project(tmp_path, "runware")
    for key in keys(run, a):
        _claim(s3, bucket, key, 3600)  # held by a machine that never finishes
    code, _, err = run(a, "build")
    assert code == 0, err
    assert remote.paid_generations == JOBS


def test_a_store_without_conditional_writes_makes_the_build_pay_not_wait(
    run: Run, tmp_path: Path, remote: Emulator, proxy: Proxy, s3: MotoServer, bucket: str
) -> None:
    proxy.mode = "no-conditional"
    a = project(tmp_path, "runware")
    code, _, err = run(a, "build")
    assert code == 0, err
    assert remote.paid_generations == JOBS
    warnings = remote_warnings(err)
    assert len(warnings) == 1 and "does not support conditional writes" in warnings[0]
    assert sum("/masters/" in k for k in objects(s3, bucket)) == JOBS, "still shared"


@pytest.mark.slow
def test_two_builds_of_one_new_job_at_once_pay_once(
    tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str
) -> None:
    """moto's server honours If-None-Match: * (412 on an existing key), as AWS S3 does."""
    remote.latency = 1.5  # each generation takes long enough for the builds to overlap
    a = project(tmp_path, "runware")
    b = clone(tmp_path, "b")
    env = dict(os.environ)
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", "-C", str(p), "build"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in (a, b)
    ]
    results = [proc.communicate(timeout=120) for proc in builds]
    for proc, (_, err) in zip(builds, results, strict=True):
        assert proc.returncode == 0, err.decode()
    assert remote.paid_generations == JOBS, "the same jobs were paid twice"
    assert published(a) == published(b)


# --- cache pull / push / status -----------------------------------------------------------


@pytest.mark.slow
def test_cache_pull_then_an_offline_build_pays_nothing(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    b = clone(tmp_path, "b")
    code, out, err = run(b, "cache", "pull")
    assert code == 0, err
    assert out.startswith(f"pulled {JOBS}, already here 0")
    monkeypatch.setenv("BRANDKIT_RUNWARE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("BRANDKIT_REMOTE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    code, out, err = run(b, "build")
    assert code == 0, err
    assert remote.paid_generations == JOBS
    assert published(b) == published(a)
    assert remote_warnings(err) == [], "the masters were local: the remote was not asked"


@pytest.mark.slow
def test_cache_push_uploads_what_the_remote_lacks_and_status_counts_it(
    run: Run, tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("BRANDKIT_REMOTE_READ_ONLY", "1")
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    status = run.json(a, "cache", "status")
    check_status_schema(status)
    assert status["reachable"] is True and status["read_only"] is True
    assert status["counts"] == {"needed": JOBS, "local": JOBS, "remote": 0, "missing": 0}
    monkeypatch.delenv("BRANDKIT_REMOTE_READ_ONLY")
    code, out, err = run(a, "cache", "push")
    assert code == 0, err
    assert out.startswith(f"pushed {JOBS}, already there 0")
    shutil.rmtree(a / ".brandkit")
    status = run.json(a, "cache", "status")
    assert status["counts"] == {"needed": JOBS, "local": 0, "remote": JOBS, "missing": 0}


def test_cache_commands_without_a_remote_or_with_a_dead_one(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    monkeypatch.setenv("BRANDKIT_REMOTE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("BRANDKIT_REMOTE_TIMEOUT", "1")
    code, out, err = run(a, "cache", "status", "--json")
    assert code == 1 and json.loads(out)["reachable"] is False
    check_status_schema(json.loads(out))
    code, out, err = run(a, "cache", "pull")
    assert code == 1
    monkeypatch.delenv("BRANDKIT_REMOTE")
    code, out, err = run(a, "cache", "pull")
    assert code == 1 and err.startswith("error: no remote cache is configured")
    assert json.loads(run(a, "cache", "status", "--json")[1])["configured"] is False
    check_status_schema(json.loads(run(a, "cache", "status", "--json")[1]))


def check_status_schema(data: dict) -> None:
    """`cache status --json` keeps the documented shape (schemas/cache-status.schema.json)."""
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "cache-status.schema.json").read_text("utf-8"))
    jsonschema.validate(data, schema)


def test_a_bad_remote_setting_is_one_line_naming_it(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    monkeypatch.setenv("BRANDKIT_REMOTE", "https://bucket/prefix")
    code, _, err = run(a, "plan")
    assert code == 1
    assert err.startswith("error: BRANDKIT_REMOTE: 'https://bucket/prefix' is not a remote")
    monkeypatch.delenv("BRANDKIT_REMOTE")
    text = (a / "brandkit.yaml").read_text("utf-8")
    (a / "brandkit.yaml").write_text("cache: {remote: 'S3://Bad'}\n" + text, "utf-8")
    code, _, err = run(a, "validate")
    assert code == 1
    assert "brandkit.yaml:1:" in err and "cache.remote" in err and "s3://BUCKET/PREFIX" in err


def test_the_github_actions_example_is_valid_yaml_running_real_commands() -> None:
    import shlex

    import click
    import yaml

    from pipeline.cli import cli

    workflow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text("utf-8"))
    runs = [s["run"] for s in workflow["jobs"]["build"]["steps"] if "run" in s]
    commands = [shlex.split(r.split("||")[0].split(">")[0])[1:] for r in runs if "brandkit " in r]
    named = [c[0] if c[0] != "cache" else f"cache {c[1]}" for c in commands]
    assert named == ["validate", "plan", "cache pull", "build", "status"]
    cache_group = cli.commands["cache"]
    assert isinstance(cache_group, click.Group)
    assert {w[0] for w in commands} <= set(cli.commands)
    assert set(cache_group.commands) == {"pull", "push", "status"}
    assert workflow["jobs"]["build"]["env"]["BRANDKIT_REMOTE_READ_ONLY"].startswith("${{")


@pytest.mark.slow
def test_build_force_pays_again_whatever_the_remote_holds(
    run: Run, tmp_path: Path, remote: Emulator, s3: MotoServer, bucket: str
) -> None:
    a = project(tmp_path, "runware")
    assert run(a, "build")[0] == 0
    b = clone(tmp_path, "b")
    code, _, err = run(b, "build", "--force")
    assert code == 0, err
    assert remote.paid_generations == 2 * JOBS
    for key, obj in objects(s3, bucket).items():
        assert "/claims/" not in key
        assert obj["metadata"]["sha256"] == obj["sha256"]

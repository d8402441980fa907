"""Self-tests of the provider emulator, driven with httpx against a real local server."""

from __future__ import annotations

import base64
import copy
import io
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.emulator import Emulator, seed_examples

RW = {"Authorization": "Bearer rw-test-key"}
CF = {"Authorization": "Bearer cf-test-token"}
PD = {"Authorization": "Bearer pd-test-key"}
RC = {"Authorization": "Bearer rc-test-token"}
REPO = Path(__file__).resolve().parents[2]


def local_client(timeout: float = 5.0) -> httpx.Client:
    """A client that never uses proxies from the environment (and skips loading CA certs)."""
    return httpx.Client(timeout=timeout, trust_env=False, verify=False)


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with local_client() as client:
        yield client


def image_of(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        return str(image.format), image.size


def rw_task(**overrides: Any) -> dict[str, Any]:
    task = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "recraft:v4@0",
        "positivePrompt": "a small red fox logo",
        "width": 1024,
        "height": 1024,
    }
    return {**task, **overrides}


def rw_seed(name: str) -> dict[str, Any]:
    task: dict[str, Any] = copy.deepcopy(getattr(seed_examples, name))
    task["taskUUID"] = str(uuid.uuid4())
    return task


def cf_url(emulator: Emulator, account: str = "acct123") -> str:
    return f"{emulator.base_url('cloudflare')}/accounts/{account}/ai/run"


def pd_run(emulator: Emulator) -> str:
    return f"{emulator.base_url('pixeldojo')}/models/recraft-v4/run"


def rc_url(emulator: Emulator) -> str:
    return f"{emulator.base_url('recraft')}/images/generations"


# -- happy paths ---------------------------------------------------------------------------------


def test_runware_sync_seed_v4_pro(emulator: Emulator, http: httpx.Client) -> None:
    task = {**rw_seed("RUNWARE_V4_PRO"), "includeCost": True}
    response = http.post(emulator.base_url("runware"), json=[task], headers=RW)
    assert response.status_code == 200
    (item,) = response.json()["data"]
    assert item["taskType"] == "imageInference"
    assert item["taskUUID"] == task["taskUUID"]
    assert item["cost"] == 0.25 and item["NSFWContent"] is False
    assert isinstance(item["seed"], int) and uuid.UUID(item["imageUUID"])
    image = http.get(item["imageURL"])
    assert image.headers["content-type"] == "image/jpeg"
    assert image_of(image.content) == ("JPEG", (2560, 1664))
    assert emulator.paid_generations == 1 and emulator.paid_by_provider["runware"] == 1
    record = emulator.requests_for("runware")[0]
    assert record.json == [task] and record.headers["authorization"] == "<redacted>"


def test_runware_output_types_and_formats(emulator: Emulator, http: httpx.Client) -> None:
    base64_png = {**rw_seed("RUNWARE_V41_PRO"), "outputType": "base64Data", "outputFormat": "PNG"}
    data_uri_webp = rw_task(outputType="dataURI", outputFormat="WEBP", model="recraft:v4.1@0")
    response = http.post(emulator.base_url("runware"), json=[base64_png, data_uri_webp], headers=RW)
    assert response.status_code == 200
    first, second = response.json()["data"]
    assert "cost" not in first  # includeCost not set
    assert image_of(base64.b64decode(first["imageBase64Data"])) == ("PNG", (2560, 1664))
    prefix = "data:image/webp;base64,"
    assert second["imageDataURI"].startswith(prefix)
    webp = base64.b64decode(second["imageDataURI"][len(prefix) :])
    assert image_of(webp) == ("WEBP", (1024, 1024))
    assert emulator.paid_generations == 2


def test_runware_authentication_task(emulator: Emulator, http: httpx.Client) -> None:
    body = [{"taskType": "authentication", "apiKey": "rw-test-key"}, rw_task()]
    response = http.post(emulator.base_url("runware"), json=body)
    assert response.status_code == 200 and len(response.json()["data"]) == 1
    assert emulator.requests[0].json[0]["apiKey"] == "<redacted>"


def test_runware_async_get_response(emulator: Emulator, http: httpx.Client) -> None:
    emulator.latency = 0.2
    task = rw_task(deliveryMethod="async", includeCost=True, numberResults=2)
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    url = emulator.base_url("runware")
    assert http.post(url, json=[task], headers=RW).json() == {"data": []}
    assert emulator.paid_generations == 2
    pending = http.post(url, json=poll, headers=RW).json()
    assert pending == {
        "data": [
            {"taskType": "imageInference", "taskUUID": task["taskUUID"], "status": "processing"}
        ]
    }
    time.sleep(0.2)
    done = http.post(url, json=poll, headers=RW).json()["data"]
    assert [item["status"] for item in done] == ["success", "success"]
    assert len({item["imageUUID"] for item in done}) == 2 and done[0]["cost"] == 0.04
    again = http.post(url, json=[task], headers=RW)
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == "conflictTaskUUID"  # [RW-sdkpy-base]
    unknown = [{"taskType": "getResponse", "taskUUID": str(uuid.uuid4())}]
    missing = http.post(url, json=unknown, headers=RW).json()
    assert missing["data"] == []
    assert missing["errors"][0]["code"] == "taskFailedOrNotFound"
    assert missing["errors"][0]["status"] == "error"
    assert emulator.paid_generations == 2


def test_cloudflare_seed_examples(emulator: Emulator, http: httpx.Client) -> None:
    for body, size in ((seed_examples.CLOUDFLARE_V4_PRO, (2048, 2048)),
                       (seed_examples.CLOUDFLARE_V41, (1024, 1024))):  # fmt: skip
        response = http.post(cf_url(emulator), json=body, headers=CF)
        assert response.status_code == 200
        payload = response.json()
        assert payload["gatewayMetadata"] == {"keySource": "Unified"}
        assert payload["state"] == "Completed"
        image = http.get(payload["result"]["image"])
        assert image.headers["content-type"] == "image/png"
        assert image_of(image.content) == ("PNG", size)
    assert emulator.paid_by_provider["cloudflare"] == 2


def test_pixeldojo_submit_and_poll(emulator: Emulator, http: httpx.Client) -> None:
    emulator.latency = 0.2
    submit = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD)
    assert submit.status_code == 202
    job = submit.json()
    assert job["status"] == "pending" and job["creditCost"] == 1
    assert job["creditsRemaining"] == 999 and job["expiresAt"].endswith("Z")
    assert job["statusUrl"] == f"{emulator.base_url('pixeldojo')}/jobs/{job['jobId']}"
    states = [http.get(job["statusUrl"], headers=PD).json()["status"] for _ in range(2)]
    assert states == ["pending", "processing"]
    time.sleep(0.2)
    done = http.get(job["statusUrl"], headers=PD).json()
    assert done["status"] == "completed" and done["creditCost"] == 1
    (url,) = done["output"]["images"]
    assert done["assets"] == [{"url": url}]
    assert image_of(http.get(url).content) == ("PNG", (1024, 1024))
    gone = http.get(f"{emulator.base_url('pixeldojo')}/jobs/job_nope", headers=PD)
    assert gone.status_code == 404 and gone.json() == {"error": "Job not found"}
    assert emulator.paid_by_provider["pixeldojo"] == 1


def test_recraft_url_and_b64(emulator: Emulator, http: httpx.Client) -> None:
    response = http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert response.status_code == 200
    payload = response.json()
    assert payload["credits"] == 250 and isinstance(payload["created"], int)
    (item,) = payload["data"]
    assert set(item) == {"image_id", "url"}
    # No image_format: WEBP on purpose (Recraft documents no default), to catch a client
    # that stops asking for PNG.
    assert image_of(http.get(item["url"]).content) == ("WEBP", (2560, 1664))
    body = {"prompt": "flat icon", "model": "recraftv4_1", "n": 2, "response_format": "b64_json"}
    payload = http.post(rc_url(emulator), json={**body, "image_format": "png"}, headers=RC).json()
    assert payload["credits"] == 70
    assert image_of(base64.b64decode(payload["data"][0]["b64_json"])) == ("PNG", (1024, 1024))
    assert emulator.paid_by_provider["recraft"] == 3


def test_v4_models_refuse_v3_style(emulator: Emulator, http: httpx.Client) -> None:
    """Recraft's V4 models take style only through the V4 Styles models (providers.md
    4.3); rejected here (not ignored) so a client that sends them is caught."""
    for name, value in (("style", "digital_illustration"), ("substyle", "hand_drawn")):
        body = {**seed_examples.RECRAFT_V4_PRO, name: value}
        refused = http.post(rc_url(emulator), json=body, headers=RC)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_request"
        assert name in refused.json()["message"]
        cf = copy.deepcopy(seed_examples.CLOUDFLARE_V41)
        cf["input"][name] = value
        refused = http.post(cf_url(emulator), json=cf, headers=CF)
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == 5004
    assert emulator.paid_generations == 0


def test_no_image_fault_is_a_paid_answer_without_an_image(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.inject("recraft", "no_image")
    recraft = http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert recraft.status_code == 200 and recraft.json()["data"] == []
    emulator.inject("cloudflare", "no_image")
    cloudflare = http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41, headers=CF)
    assert cloudflare.status_code == 200
    assert cloudflare.json()["result"] == {} and cloudflare.json()["state"] == "Completed"
    assert emulator.paid_by_provider["recraft"] == emulator.paid_by_provider["cloudflare"] == 1
    with pytest.raises(ValueError, match="synchronous providers"):
        emulator.inject("runware", "no_image")


def test_same_prompt_and_size_give_identical_bytes(emulator: Emulator, http: httpx.Client) -> None:
    def fetch(prompt: str) -> bytes:
        body = {"prompt": prompt, "model": "recraftv4", "size": "1344x768"}
        url = http.post(rc_url(emulator), json=body, headers=RC).json()["data"][0]["url"]
        return http.get(url).content

    assert fetch("same") == fetch("same") != fetch("other")


# -- authentication and validation ---------------------------------------------------------------


def test_auth_failures(emulator: Emulator, http: httpx.Client) -> None:
    bad = {"Authorization": "Bearer wrong"}
    runware = http.post(emulator.base_url("runware"), json=[rw_task()], headers=bad)
    assert runware.status_code == 401
    assert runware.json()["errors"][0]["code"] == "invalidApiKey"
    cloudflare = http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41)
    assert cloudflare.status_code == 401
    assert cloudflare.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    pixeldojo = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=bad)
    assert pixeldojo.status_code == 401 and set(pixeldojo.json()) == {"error", "message"}
    recraft = http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=bad)
    assert recraft.status_code == 401 and recraft.text == "request unauthorized"
    assert recraft.headers["content-type"].startswith("text/plain")
    assert emulator.paid_generations == 0


@pytest.mark.parametrize(
    ("task", "code"),
    [
        (rw_task(settings={"colors": [{"rgb": [1, 2, 3]}]}), "unknownParameter"),
        (
            rw_task(model="recraft:v4.1@0", providerSettings={"recraft": {"colors": []}}),
            "unknownParameter",
        ),
        (rw_task(model="recraft:v3@0"), "unknownModel"),
        (rw_task(width=2048, height=2048), "unsupportedDimensions"),
        (rw_task(positivePrompt="x" * 10_001), "invalidPositivePrompt"),
        (rw_task(outputFormat="GIF"), "invalidOutputFormat"),
    ],
)
def test_runware_validation(
    emulator: Emulator, http: httpx.Client, task: dict[str, Any], code: str
) -> None:
    response = http.post(emulator.base_url("runware"), json=[task], headers=RW)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code
    assert emulator.paid_generations == 0


def test_other_providers_validation(emulator: Emulator, http: httpx.Client) -> None:
    too_many = {"colors": [{"rgb": [i, i, i]} for i in range(6)]}
    for inputs in ({"prompt": "x", "n": 1}, {"prompt": "x", "controls": too_many},
                   {"prompt": "x", "size": "1000x1000"}):  # fmt: skip
        body = {"model": "recraft/recraftv4", "input": inputs}
        response = http.post(cf_url(emulator), json=body, headers=CF)
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == 5004
    wrong_account = http.post(
        cf_url(emulator, "other"), json=seed_examples.CLOUDFLARE_V41, headers=CF
    )
    assert wrong_account.status_code == 404 and wrong_account.json()["success"] is False
    bad_ratio = http.post(
        pd_run(emulator), json={"prompt": "x", "aspect_ratio": "21:9"}, headers=PD
    )
    assert bad_ratio.status_code == 400 and "error" in bad_ratio.json()
    other_model = f"{emulator.base_url('pixeldojo')}/models/recraft-v4-pro/run"
    assert http.post(other_model, json={"prompt": "x"}, headers=PD).status_code == 404
    bad_recraft: list[dict[str, Any]] = [
        {"prompt": "x", "model": "recraftv4", "size": "2048x2048"},
        {"prompt": "x", "response_format": "png"},
    ]
    for rc_body in bad_recraft:
        assert http.post(rc_url(emulator), json=rc_body, headers=RC).status_code == 400
    assert emulator.paid_generations == 0


# -- faults --------------------------------------------------------------------------------------


def test_fault_status_envelopes(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("runware", "status", status=503)
    failed = http.post(emulator.base_url("runware"), json=[rw_task()], headers=RW)
    assert failed.status_code == 503
    assert failed.json()["errors"][0]["code"] == "serviceUnavailable"
    emulator.inject("cloudflare", "status", status=429, code=3036, retry_after=2)
    limited = http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41, headers=CF)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["errors"][0]["code"] == 3036
    assert emulator.paid_generations == 0
    ok = http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41, headers=CF)
    assert ok.status_code == 200 and emulator.paid_generations == 1


def test_fault_drop_and_reset(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("pixeldojo", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD)
    emulator.inject("recraft", "reset")
    with pytest.raises(httpx.TransportError):
        http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert emulator.paid_generations == 0
    emulator.inject("recraft", "drop", after=True)  # generation ran, response lost
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert emulator.paid_generations == 1


def test_fault_slow_and_malformed_json(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("cloudflare", "slow", seconds=0.1)
    started = time.monotonic()
    assert http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41, headers=CF).is_success
    assert time.monotonic() - started >= 0.1
    emulator.inject("recraft", "malformed_json")
    broken = http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    assert emulator.paid_generations == 2


def test_fault_download_faults(emulator: Emulator, http: httpx.Client) -> None:
    body = [rw_task(), rw_task()]
    first, second = http.post(emulator.base_url("runware"), json=body, headers=RW).json()["data"]
    emulator.inject("runware", "truncated_image")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(first["imageURL"])
    emulator.inject("runware", "wrong_content_type")
    html = http.get(second["imageURL"])
    assert html.status_code == 200 and html.headers["content-type"] == "text/html"
    assert html.text.startswith("<html>")
    assert http.get(first["imageURL"]).headers["content-type"] == "image/jpeg"


def test_fault_job_failed(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("runware", "job_failed")
    task = rw_task(deliveryMethod="async")
    http.post(emulator.base_url("runware"), json=[task], headers=RW)
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    result = http.post(emulator.base_url("runware"), json=poll, headers=RW).json()
    assert result["data"] == []
    assert result["errors"][0]["status"] == "error"
    assert result["errors"][0]["taskUUID"] == task["taskUUID"]
    emulator.inject("pixeldojo", "job_failed", message="boom")
    job = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD).json()
    failed = http.get(job["statusUrl"], headers=PD).json()
    assert failed["status"] == "failed" and failed["error"] == "boom"
    assert emulator.paid_generations == 2  # accepted submissions are paid


def test_fault_expired(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("pixeldojo", "expired")
    job = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD).json()
    expired = http.get(job["statusUrl"], headers=PD)
    assert expired.status_code == 404 and expired.json() == {"error": "Job not found"}
    emulator.inject("runware", "expired")
    task = rw_task(deliveryMethod="async")
    http.post(emulator.base_url("runware"), json=[task], headers=RW)
    poll = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    result = http.post(emulator.base_url("runware"), json=poll, headers=RW).json()
    assert result["errors"][0]["code"] == "taskFailedOrNotFound"


def test_fault_content_refusal(emulator: Emulator, http: httpx.Client) -> None:
    for provider in ("runware", "cloudflare", "pixeldojo", "recraft"):
        emulator.inject(provider, "content_refusal")
    runware = http.post(emulator.base_url("runware"), json=[rw_task()], headers=RW)
    assert runware.status_code == 400
    assert runware.json()["errors"][0]["code"] == "contentPolicyViolation"
    cloudflare = http.post(cf_url(emulator), json=seed_examples.CLOUDFLARE_V41, headers=CF)
    assert cloudflare.status_code == 400
    assert "content policy" in cloudflare.json()["errors"][0]["message"]
    job = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD).json()
    refused = http.get(job["statusUrl"], headers=PD).json()
    assert refused == {**refused, "status": "failed", "error": "Content policy violation"}
    recraft = http.post(rc_url(emulator), json=seed_examples.RECRAFT_V4_PRO, headers=RC)
    assert recraft.status_code == 400
    assert recraft.json()["code"] == "content_policy_violation"
    assert emulator.paid_generations == 0


def test_faults_fire_in_order_one_per_request(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("recraft", "slow", seconds=0.01)
    emulator.inject("recraft", "malformed_json")
    answers = [http.post(rc_url(emulator), json={"prompt": "p"}, headers=RC) for _ in range(3)]
    assert [a.headers["content-length"] == str(len(a.content)) for a in answers] == [True] * 3
    assert [a.text.endswith("}") for a in answers] == [True, False, True]
    emulator.inject("pixeldojo", "status", on="poll", status=500)
    job = http.post(pd_run(emulator), json=seed_examples.PIXELDOJO_V4, headers=PD).json()
    assert http.get(job["statusUrl"], headers=PD).status_code == 500
    assert http.get(job["statusUrl"], headers=PD).json()["status"] == "completed"
    assert emulator.pending_faults == []


def test_inject_rejects_unknown_fault(emulator: Emulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject("runware", "explode")
    with pytest.raises(ValueError):
        emulator.inject("runware", "slow", secs=1)


# -- accounting, concurrency, control ------------------------------------------------------------


def test_in_flight_and_client_drop_still_paid(emulator: Emulator) -> None:
    emulator.latency = 0.15
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with local_client() as client:
                client.post(rc_url(emulator), json={"prompt": "p"}, headers=RC)
        except BaseException as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert emulator.max_in_flight == 3 and emulator.in_flight == 0
    with local_client(timeout=0.05) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(rc_url(emulator), json={"prompt": "p"}, headers=RC)
    assert emulator.paid_generations == 4


def test_control_endpoints(emulator: Emulator, http: httpx.Client) -> None:
    control = f"{emulator.url}/_emulator"
    fault = {"provider": "recraft", "fault": "status", "status": 502, "times": 2}
    assert http.post(f"{control}/faults", json=fault).status_code == 200
    assert http.post(f"{control}/config", json={"latency": 0.01}).json() == {"latency": 0.01}
    assert emulator.latency == 0.01
    for _ in range(2):
        assert http.post(rc_url(emulator), json={"prompt": "p"}, headers=RC).status_code == 502
    assert http.post(rc_url(emulator), json={"prompt": "p"}, headers=RC).status_code == 200
    stats = http.get(f"{control}/stats").json()
    assert stats["paid_generations"] == 1 and stats["requests"] == 3
    assert (
        http.post(f"{control}/faults", json={"provider": "x", "fault": "drop"}).status_code == 400
    )
    assert http.post(f"{control}/reset").json() == {"ok": True}
    assert emulator.paid_generations == 0 and emulator.requests == []
    assert emulator.internal_errors == []


def test_main_module_runs_in_foreground() -> None:
    command = [sys.executable, "-m", "tests.emulator", "--latency", "0"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["runware"] == f"{info['url']}/runware/v1"
        with local_client() as client:
            assert client.get(f"{info['url']}/_emulator/stats").json()["paid_generations"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0

"""The synchronous providers (Cloudflare, Recraft) and V4 styles, as the providers document
them (shared/seeds/providers.md 2, 4, 6, 7), against the loopback emulator.

- V4-family models take no V3 `style`/`substyle`: refused before anything is sent.
- Recraft is always asked for PNG (its default format is undocumented).
- A Cloudflare 401/403 says what to check.
- A synchronous POST is sent again only when the answer proves the model never ran: no
  job is paid for twice, and one that may have been charged says so.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import httpx
import pytest

from pipeline.cache import Cache
from pipeline.errors import ProviderError
from pipeline.providers.http import RetryPolicy, send_json
from tests.conftest import Run, kit, project, write_manifest
from tests.emulator import Emulator

SYNC = ["cloudflare", "recraft"]
MAY_HAVE_BEEN_CHARGED = "it may have been charged, so it is not sent again"
V4_STYLES = "Recraft serves styles through the separate V4 Styles models (style_id)"
RAW_IDS = {
    "recraft-v4": {"runware": "recraft:v4@0", "cloudflare": "recraft/recraftv4",
                   "pixeldojo": "recraft-v4", "recraft": "recraftv4"},
    "recraft-v4-pro": {"runware": "recraft:v4-pro@0", "cloudflare": "recraft/recraftv4-pro",
                       "recraft": "recraftv4_pro"},
    "recraft-v4.1": {"runware": "recraft:v4.1@0", "cloudflare": "recraft/recraftv4-1",
                     "recraft": "recraftv4_1"},
    "recraft-v4.1-pro": {"runware": "recraft:v4.1-pro@0",
                         "cloudflare": "recraft/recraftv4-1-pro", "recraft": "recraftv4_1_pro"},
}  # fmt: skip


def styled(provider: str, model: str, where: str = "defaults") -> str:
    """A kit whose model is `model`, with a style and a substyle in `defaults` or on hero."""
    text = kit(provider, palette=provider != "pixeldojo").replace(
        "  model: recraft-v4\n", f"  model: '{model}'\n"
    )
    if where == "defaults":
        return text.replace(
            "assets:\n", "  style: digital_illustration\n  substyle: hand_drawn\nassets:\n"
        )
    return text.replace(
        "sizes: ['16:9', '1200x675']}", "sizes: ['16:9'], style: icon, substyle: flat}"
    )


# --- 1. V4 models take no V3 style ------------------------------------------------------


V4_CASES = [
    (provider, model)
    for alias, ids in RAW_IDS.items()
    for provider in ["local", *ids]
    for model in [alias, *([ids[provider]] if provider in ids else [])]
] + [("local", "recraft:v4.1-pro@0"), ("local", "recraftv4_pro")]


@pytest.mark.parametrize(("provider", "model"), V4_CASES)
def test_v4_style_and_substyle_are_refused_at_validate(
    run: Run, tmp_path: Path, provider: str, model: str
) -> None:
    """Every provider, every alias and raw id of the family: a kit that validates on
    local cannot fail (or pay for an image that ignores its style) on a real provider."""
    text = styled(provider, model)
    write_manifest(tmp_path, text)
    code, _, err = run(tmp_path, "validate")
    alias = next(a for a, ids in RAW_IDS.items() if model in (a, *ids.values()))
    line = text.splitlines().index("  style: digital_illustration") + 1
    assert code == 1
    assert err.splitlines() == [
        f"brandkit.yaml:{line}:10: defaults.style: {alias} takes no V3 style/substyle "
        f"(remove `style`); {V4_STYLES}",
        f"brandkit.yaml:{line + 1}:13: defaults.substyle: {alias} takes no V3 style/substyle "
        f"(remove `substyle`); {V4_STYLES}",
        "2 errors in the manifest",
    ]


def test_style_on_an_asset_is_located_there(run: Run, tmp_path: Path) -> None:
    write_manifest(tmp_path, styled("cloudflare", "recraft-v4-pro", where="hero"))
    code, _, err = run(tmp_path, "validate")
    assert code == 1
    assert re.search(
        r"^brandkit.yaml:\d+:\d+: assets.hero.style: recraft-v4-pro takes no V3 "
        r"style/substyle \(remove `style`\)",
        err,
        re.M,
    )
    assert "assets.hero.substyle: recraft-v4-pro" in err


@pytest.mark.parametrize("provider", ["local", *SYNC])
@pytest.mark.parametrize("command", ["plan", "build"])
def test_plan_and_build_refuse_before_sending_anything(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, command: str
) -> None:
    write_manifest(tmp_path, styled(provider, "recraft-v4"))
    code, _, err = run(tmp_path, command)
    assert code == 1
    assert (
        f"defaults.style: recraft-v4 takes no V3 style/substyle (remove `style`); {V4_STYLES}"
        in err
    )
    assert (remote.requests, remote.paid_generations) == ([], 0)
    assert not (tmp_path / "dist").exists()


def test_a_provider_override_is_refused_too(run: Run, tmp_path: Path, remote: Emulator) -> None:
    write_manifest(tmp_path, styled("recraft", "recraftv3"))  # a raw id we do not know
    assert run(tmp_path, "validate")[0] == 0
    write_manifest(tmp_path, styled("local", "recraft-v4.1"))
    code, _, err = run(tmp_path, "build", "--provider", "recraft")
    assert code == 1 and "defaults.style: recraft-v4.1 takes no V3 style/substyle" in err
    assert remote.requests == []


@pytest.mark.parametrize("provider", SYNC)
def test_an_unknown_raw_model_id_keeps_its_style(run: Run, tmp_path: Path, provider: str) -> None:
    """It may be another family (Recraft V3 takes style): sent as written."""
    model = {"cloudflare": "recraft/recraftv3", "recraft": "recraftv3"}[provider]
    write_manifest(tmp_path, styled(provider, model))
    assert run(tmp_path, "validate")[0] == 0
    requests = [job["request"] for job in run.json(tmp_path, "plan")["jobs"]]
    fields = [r.get("input", r) for r in requests]
    assert {(f["style"], f["substyle"]) for f in fields} == {("digital_illustration", "hand_drawn")}


# --- 2. Recraft: always PNG ---------------------------------------------------------------


def test_recraft_asks_for_png_and_caches_png_masters(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "recraft")
    keys = [job["key"] for job in run.json(p, "plan")["jobs"]]
    code, _, err = run(p, "build")
    assert code == 0, err
    posts = [r.json for r in remote.requests_for("recraft") if r.method == "POST"]
    assert len(posts) == 3
    assert all(body["image_format"] == "png" for body in posts)
    with Cache(p / ".brandkit") as cache:
        masters = [cache.get(key) for key in keys]
        data = [cache.read(m) for m in masters if m is not None]
    assert len(data) == 3 and all(m is not None and m.format == "png" for m in masters)
    assert all(d.startswith(b"\x89PNG\r\n\x1a\n") for d in data)


# --- 3. Cloudflare: what to check on 401/403 ------------------------------------------------

AUTH_HINT = (
    "check that CLOUDFLARE_API_TOKEN is valid and has the AI Gateway permission (Read and "
    "Edit) and Workers AI Read, that credits are loaded (dashboard: AI Gateway > Credits), "
    "and that CLOUDFLARE_ACCOUNT_ID is the token's account"
)


@pytest.mark.parametrize(
    ("status", "said"),
    [(401, "Authentication error (10000) (HTTP 401)"), (403, "Not allowed (3041) (HTTP 403)")],
)
def test_cloudflare_auth_failure_says_what_to_check(
    run: Run, tmp_path: Path, remote: Emulator, status: int, said: str
) -> None:
    remote.inject("cloudflare", "status", status=status)
    code, _, err = run(project(tmp_path, "cloudflare"), "build", "--only", "hero")
    assert code == 1
    assert f"failed: hero@16:9 (cloudflare): cloudflare: {said}: {AUTH_HINT}" in err.splitlines()
    assert len(remote.requests_for("cloudflare")) == 1, "never retried"
    assert remote.paid_generations == 0


def test_cloudflare_wrong_token_says_what_to_check_without_the_token(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-WRONG-token-value")
    code, out, err = run(project(tmp_path, "cloudflare"), "build", "--only", "hero")
    assert code == 1
    assert f"cloudflare: Authentication error (10000) (HTTP 401): {AUTH_HINT}" in err
    assert "cf-WRONG-token-value" not in out + err


# --- 4. never sent twice when it may have been charged -------------------------------------


def posts(remote: Emulator, provider: str) -> int:
    return sum(r.method == "POST" for r in remote.requests_for(provider))


def build_hero(run: Run, tmp_path: Path, provider: str, **kw: object) -> tuple[int, str, str]:
    return run(project(tmp_path, provider, **kw), "build", "--only", "hero")


@pytest.mark.parametrize("provider", SYNC)
@pytest.mark.parametrize(
    ("fault", "params", "paid", "said"),
    [
        ("status", {"status": 500, "after": True}, 1, "(HTTP 500)"),
        ("status", {"status": 502}, 0, "(HTTP 502)"),
        ("status", {"status": 504}, 0, "(HTTP 504)"),
        ("status", {"status": 503}, 0, "(HTTP 503)"),  # no Retry-After: it may have run
        ("drop", {"after": True}, 1, "network error: RemoteProtocolError"),
        ("drop", {}, 0, "network error: RemoteProtocolError"),
        ("reset", {}, 0, "network error:"),
        ("malformed_json", {}, 1, "the answer (HTTP 200) is not valid JSON"),
        ("no_image", {}, 1, "the answer"),
        ("job_failed", {}, 1, "(HTTP 5"),
    ],
)
def test_a_request_that_may_have_reached_the_model_fails_once(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    provider: str,
    fault: str,
    params: dict,
    paid: int,
    said: str,
) -> None:
    remote.inject(provider, fault, **params)
    code, out, err = build_hero(run, tmp_path, provider)
    assert code == 1
    (line,) = [x for x in err.splitlines() if x.startswith("failed: hero")]
    assert said in line and line.endswith(MAY_HAVE_BEEN_CHARGED), line
    assert posts(remote, provider) == 1, "never sent a second time"
    assert remote.paid_by_provider.get(provider, 0) == paid
    # Nothing to collect: the next build generates it, and says nothing of a lost request.
    code, out, err = run(tmp_path / "p", "build", "--only", "hero")
    assert code == 0 and "generated 1" in out and "may have been charged" not in err
    assert remote.paid_by_provider[provider] == paid + 1


@pytest.mark.parametrize("provider", SYNC)
def test_a_read_timeout_fails_once(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    remote.inject(provider, "slow", seconds=1.5)
    extra = f"providers:\n  {provider}: {{timeout: 0.4}}\n"
    code, _, err = build_hero(run, tmp_path, provider, extra=extra)
    assert code == 1
    assert "network error: ReadTimeout" in err and MAY_HAVE_BEEN_CHARGED in err
    assert posts(remote, provider) == 1


@pytest.mark.parametrize("provider", SYNC)
@pytest.mark.parametrize(
    "params",
    [{"status": 429}, {"status": 429, "retry_after": 0.01}, {"status": 503, "retry_after": 0.01}],
    ids=["429", "429+retry-after", "503+retry-after"],
)
def test_turned_away_before_generation_is_sent_again_and_paid_once(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, params: dict
) -> None:
    remote.inject(provider, "status", times=2, **params)
    code, _, err = build_hero(run, tmp_path, provider)
    assert code == 0, err
    assert posts(remote, provider) == 3
    assert remote.paid_by_provider[provider] == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: refused


@pytest.mark.parametrize("provider", SYNC)
def test_a_refused_connection_is_retried_and_charges_nothing(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = remote.base_url(provider)
    closed = re.sub(r":\d+/", f":{closed_port()}/", base, count=1)
    monkeypatch.setenv(f"BRANDKIT_{provider.upper()}_URL", closed)
    code, _, err = build_hero(run, tmp_path, provider)
    assert code == 1
    assert "network error: ConnectError" in err and "gave up after 5 attempts" in err
    assert "may have been charged" not in err
    assert remote.requests == []
    # Nothing was sent, so nothing is reported lost by the next build.
    monkeypatch.setenv(f"BRANDKIT_{provider.upper()}_URL", base)
    code, _, err = run(tmp_path / "p", "build", "--only", "hero")
    assert code == 0 and "may have been charged" not in err
    assert (posts(remote, provider), remote.paid_by_provider[provider]) == (1, 1)


class RefuseFirst(httpx.AsyncBaseTransport):
    """A real transport to the emulator whose first connection attempt is refused."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.refused:
            self.refused += 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_send_json_retries_a_refused_connection_then_sends_once(emulator: Emulator) -> None:
    url = f"{emulator.base_url('recraft')}/images/generations"
    transport = RefuseFirst()

    async def send() -> dict:
        async with httpx.AsyncClient(transport=transport) as client:
            return await send_json(  # type: ignore[no-any-return]
                client,
                "recraft",
                "POST",
                url,
                json={"prompt": "x", "model": "recraftv4", "image_format": "png"},
                headers={"Authorization": f"Bearer {emulator.keys['recraft']}"},
                policy=RetryPolicy(base=0.01),
                retry_unsent_only=True,
            )

    body = asyncio.run(send())
    assert transport.refused == 1 and len(body["data"]) == 1
    assert len(emulator.requests) == 1 and emulator.paid_generations == 1


# --- a malformed 200 is never retried, whoever sends it -------------------------------------


@pytest.mark.parametrize("provider", ["runware", "pixeldojo"])
def test_a_malformed_poll_answer_fails_the_job_and_the_next_build_collects_it(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    remote.inject(provider, "malformed_json", on="poll")
    code, _, err = build_hero(run, tmp_path, provider)
    assert code == 1
    assert "the answer (HTTP 200) is not valid JSON" in err
    assert remote.paid_by_provider[provider] == 1
    code, _, err = run(tmp_path / "p", "build", "--only", "hero")
    assert code == 0, err
    assert remote.paid_by_provider[provider] == 1, "collected, not paid again"


def test_malformed_answer_is_not_retried_by_send_json(emulator: Emulator) -> None:
    """Whatever the provider: a 200 that is not JSON raises at once (retryable, so an
    asynchronous job keeps its journal entry and is collected later)."""
    emulator.inject("runware", "malformed_json")
    task = {
        "taskType": "imageInference",
        "taskUUID": "2f1f2a8e-3b8b-4bd4-9a55-6b1c1d1e1f10",
        "model": "recraft:v4@0",
        "positivePrompt": "x",
        "width": 1024,
        "height": 1024,
    }

    async def send() -> None:
        async with httpx.AsyncClient() as client:
            await send_json(
                client,
                "runware",
                "POST",
                emulator.base_url("runware"),
                json=[task],
                headers={"Authorization": f"Bearer {emulator.keys['runware']}"},
                policy=RetryPolicy(base=0.01),
            )

    with pytest.raises(ProviderError) as caught:
        asyncio.run(send())
    assert caught.value.retryable and MAY_HAVE_BEEN_CHARGED in caught.value.message
    assert len(emulator.requests) == 1
    assert json.dumps(emulator.requests[0].json) == json.dumps([task])

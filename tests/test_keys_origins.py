"""Keys go to their provider and nowhere else (issue 12, section 2).

Hostile modes of the emulator: redirects to a foreign origin (a second loopback server on
another port, which records everything it receives), image URLs on that origin; keys with
whitespace around or inside them; a base_url that only the manifest names.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from pipeline.errors import ProviderError
from pipeline.providers import get_provider
from pipeline.providers.base import bearer
from pipeline.providers.http import KeyGuard, RetryPolicy, import_httpx, send_json
from pipeline.providers.trust import UnconfirmedBaseUrl, base_url_allowed
from tests.conftest import KEY_VARS, PROVIDERS, Run, kit, project, write_manifest
from tests.emulator import Emulator
from tests.emulator.foreign import ForeignServer


def key_forms(key: str) -> list[bytes]:
    forms = {key, repr(key)[1:-1], json.dumps(key)[1:-1], quote(key, safe=""), quote(key)}
    return [f.encode() for f in forms]


def assert_no_key_reached(foreign: ForeignServer) -> None:
    """No key of any provider, in any form, in anything the foreign origin received."""
    for received in foreign.received:
        assert "authorization" not in received.headers
        raw = received.raw()
        for variables in KEY_VARS.values():
            for key in variables.values():
                for form in key_forms(key):
                    assert form not in raw, (received.method, received.path)


# --- 1. only the base origin gets a key ---------------------------------------------------


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redirect_from_the_provider_endpoint_carries_no_key(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, status: int
) -> None:
    remote.inject(provider, "redirect", times=None, status=status)
    code, _, err = run(project(tmp_path, provider), "build")
    assert code == 1
    assert remote.paid_generations == 0
    assert_no_key_reached(remote.foreign)
    if provider == "cloudflare":  # the account id is in the path: refused, never sent
        assert "refused to send CLOUDFLARE_ACCOUNT_ID" in err
        assert remote.foreign.received == []
    else:  # followed without the key, and the foreign origin says no
        assert remote.foreign.received, "the redirect was followed"


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirected_image_download_carries_no_key(
    run: Run, tmp_path: Path, remote: Emulator, status: int
) -> None:
    remote.inject("runware", "redirect", times=None, on="download", status=status)
    code, _, err = run(project(tmp_path, "runware"), "build")
    assert code == 0, err
    downloads = [r for r in remote.foreign.received if r.path.startswith("/files/")]
    assert len(downloads) == remote.paid_generations == 3
    assert_no_key_reached(remote.foreign)


@pytest.mark.parametrize("provider", ["runware", "cloudflare", "pixeldojo"])
def test_an_image_url_on_a_foreign_origin_gets_no_key(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    remote.foreign_images = True
    code, _, err = run(project(tmp_path, provider), "build")
    assert code == 0, err
    assert len(remote.foreign.received) == remote.paid_generations == 3
    assert_no_key_reached(remote.foreign)


def test_the_guard_removes_keys_whatever_the_caller_attaches(emulator: Emulator) -> None:
    """Headers a provider passes (Authorization, or any other) reach its own origin only;
    a key in the URL or the body is refused before it leaves."""
    key = "rw-test-key"
    foreign = emulator.foreign.url

    async def scenario() -> list[str]:
        httpx = import_httpx()
        guard = KeyGuard()
        guard.allow("runware", emulator.base_url("runware"), {"RUNWARE_API_KEY": key})
        refused = []
        async with httpx.AsyncClient(event_hooks={"request": [guard]}) as client:
            headers = {**bearer(key), "X-Api-Key": key, "X-Other": f"k={key};"}

            async def send(url: str, **kw: object) -> None:
                try:
                    await send_json(
                        client, "runware", "POST", url, policy=RetryPolicy(attempts=1), **kw
                    )
                except ProviderError as exc:
                    refused.append(exc.message)

            await send(emulator.base_url("runware"), json=[], headers=headers)
            await send(f"{foreign}/x", json=[], headers=headers)
            await send(f"{foreign}/q?key={quote(key)}", json=[])
            await send(f"{foreign}/b", json={"apiKey": key})
        return refused

    refused = asyncio.run(scenario())
    own = emulator.requests_for("runware")
    assert own and own[0].headers["authorization"] == "<redacted>"  # the key arrived there
    assert own[0].headers["x-api-key"] == key
    assert [r.path for r in emulator.foreign.received] == ["/x"]
    assert_no_key_reached(emulator.foreign)
    assert len([m for m in refused if "refused to send RUNWARE_API_KEY" in m]) == 2
    assert all(key not in m for m in refused)


def test_origin_is_scheme_host_and_port(emulator: Emulator) -> None:
    """Another port of the same host, or https on the same host and port, is another
    origin."""

    async def scenario() -> None:
        httpx = import_httpx()
        guard = KeyGuard()
        guard.allow("recraft", "http://127.0.0.1:1/recraft/v1", {"RECRAFT_API_TOKEN": "tok-123"})
        for url in ("http://127.0.0.1:2/x", "https://127.0.0.1:1/x", "http://localhost:1/x"):
            request = httpx.Request("GET", url, headers=bearer("tok-123"))
            guard.check(request)
            assert "authorization" not in request.headers, url
        request = httpx.Request("GET", "http://127.0.0.1:1/other", headers=bearer("tok-123"))
        guard.check(request)
        assert request.headers["authorization"] == "Bearer tok-123"

    asyncio.run(scenario())


# --- 2. keys with whitespace --------------------------------------------------------------


@pytest.mark.parametrize("padded", ["rw-test-key\r\n", "  rw-test-key\n", "\trw-test-key "])
def test_whitespace_around_a_key_is_stripped(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch, padded: str
) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", padded)
    code, _, err = run(project(tmp_path, "runware"), "build")
    assert code == 0, err
    assert remote.paid_generations == 3


BAD_KEYS = [
    "Zq8vT1 nR4kW9xP",
    "Zq8vT1\r\nnR4kW9xP",
    "Zq8vT1\x01nR4kW9xP",
    "Zq8vT1\x7fnR4kW9xP",
    "Zq8vT1\x1b[2JnR4kW9xP",
    "Zq8vT1\tnR4kW9xP",
    "Zq8vT1énR4kW9xP",
    "Zq8vT1\u200bnR4kW9xP",
]


@pytest.mark.parametrize("bad", BAD_KEYS)
def test_a_key_with_whitespace_inside_is_refused_without_a_trace_of_it(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", f" {bad}\r\n")
    code, out, err = run(project(tmp_path, "runware"), "build")
    assert code == 1
    assert remote.requests == [] and remote.paid_generations == 0
    assert "RUNWARE_API_KEY" in err and "nothing was sent" in err
    text = out + err
    for form in (bad, repr(bad), json.dumps(bad), bad.encode("unicode_escape").decode()):
        for i in range(len(form) - 3):
            assert form[i : i + 4] not in text, form[i : i + 4]
    assert "Traceback" not in err


# --- 3. a base_url only the manifest names ------------------------------------------------


def manifest_base_url(tmp_path: Path, emulator: Emulator, provider: str = "recraft") -> Path:
    extra = f"providers:\n  {provider}: {{base_url: '{emulator.base_url(provider)}'}}\n"
    write_manifest(tmp_path / "p", kit(provider, extra=extra))
    return tmp_path / "p"


@pytest.fixture
def unconfirmed(remote: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Keys in the environment, the base URL only in the manifest."""
    monkeypatch.delenv("BRANDKIT_RECRAFT_URL")
    return remote


def test_validate_and_plan_show_a_manifest_base_url(
    run: Run, tmp_path: Path, unconfirmed: Emulator
) -> None:
    p = manifest_base_url(tmp_path, unconfirmed)
    host = unconfirmed.url.removeprefix("http://")
    for command in (["validate"], ["plan"], ["plan", "--json"]):
        code, _, err = run(p, *command)
        assert code == 0, err
        assert f"providers.recraft.base_url sends the recraft key to {host}" in err
        assert "build will refuse it until BRANDKIT_ALLOW_BASE_URL" in err
    assert unconfirmed.requests == []


def test_build_refuses_an_unconfirmed_manifest_base_url(
    run: Run, tmp_path: Path, unconfirmed: Emulator
) -> None:
    code, out, err = run(manifest_base_url(tmp_path, unconfirmed), "build")
    assert code == 1
    assert unconfirmed.requests == [] and unconfirmed.paid_generations == 0
    url = unconfirmed.base_url("recraft")
    assert f"confirm it in the environment: BRANDKIT_ALLOW_BASE_URL={url}" in err
    assert f"BRANDKIT_RECRAFT_URL={url}" in err
    assert "rc-test-token" not in out + err
    assert not (tmp_path / "p" / "dist").exists()


@pytest.mark.parametrize("allow", ["{host}", "{url}/", "example.com, {host}", "{netloc}"])
def test_the_allow_list_confirms_a_manifest_base_url(
    run: Run,
    tmp_path: Path,
    unconfirmed: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    allow: str,
) -> None:
    netloc = unconfirmed.url.removeprefix("http://")
    monkeypatch.setenv(
        "BRANDKIT_ALLOW_BASE_URL",
        allow.format(host="127.0.0.1", netloc=netloc, url=unconfirmed.base_url("recraft")),
    )
    code, _, err = run(manifest_base_url(tmp_path, unconfirmed), "build")
    assert code == 0, err
    assert "confirmed by BRANDKIT_ALLOW_BASE_URL" in err
    assert unconfirmed.paid_by_provider["recraft"] == 3


@pytest.mark.parametrize(
    "allow", ["example.com", "127.0.0.2", "http://127.0.0.1:1/recraft/v1", "127.0.0.1:1"]
)
def test_an_allow_list_that_names_another_place_confirms_nothing(
    run: Run,
    tmp_path: Path,
    unconfirmed: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    allow: str,
) -> None:
    monkeypatch.setenv("BRANDKIT_ALLOW_BASE_URL", allow)
    assert run(manifest_base_url(tmp_path, unconfirmed), "build")[0] == 1
    assert unconfirmed.requests == []


def test_the_provider_url_variable_wins_and_needs_no_confirmation(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    """BRANDKIT_RECRAFT_URL set (as the remote fixture does): the manifest's is unused."""
    write_manifest(
        tmp_path / "p",
        kit("recraft", extra="providers:\n  recraft: {base_url: 'https://evil.example/v1'}\n"),
    )
    code, _, err = run(tmp_path / "p", "build")
    assert code == 0, err
    assert "not used: BRANDKIT_RECRAFT_URL is set and wins" in err
    assert remote.paid_by_provider["recraft"] == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_documented_base_needs_no_confirmation(provider: str) -> None:
    p = get_provider(provider)
    documented = p.default_base_url
    assert p.base_url(documented + "/", {}) == documented
    assert p.base_url(None, {}) == documented
    with pytest.raises(UnconfirmedBaseUrl):
        p.base_url("https://gateway.example/v1", {})
    assert p.base_url("https://gateway.example/v1", {"BRANDKIT_ALLOW_BASE_URL": "gateway.example"})


def test_allow_list_matching() -> None:
    url = "https://gw.example:8443/recraft/v1"
    assert base_url_allowed(url, "gw.example")
    assert base_url_allowed(url, "GW.example:8443")
    assert base_url_allowed(url, "https://gw.example:8443/recraft/v1/")
    assert not base_url_allowed(url, "https://gw.example:8443/other")
    assert not base_url_allowed(url, "example")
    assert not base_url_allowed(url, "gw.example:443")
    assert not base_url_allowed(url, "")

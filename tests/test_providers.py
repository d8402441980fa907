"""Real provider clients against the loopback emulator: builds, costs, faults, budgets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.lockfile import read_lock
from tests.conftest import KEY_VARS, Run, kit, project, write_manifest
from tests.emulator import Emulator

MODEL_IDS = {
    "runware": "recraft:v4@0",
    "cloudflare": "recraft/recraftv4",
    "pixeldojo": "recraft-v4",
    "recraft": "recraftv4",
}
PROVIDERS = list(KEY_VARS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_build_with_each_provider_then_nothing_to_do(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    p = project(tmp_path, provider)
    plan = run.json(p, "plan")
    code, out, err = run(p, "build")
    assert code == 0, err
    assert "generated 3" in out
    assert remote.paid_by_provider.get(provider) == 3
    lock = read_lock(p / "brandkit.lock")
    assert len(lock) == 6
    assert {(e.provider, e.model) for e in lock.values()} == {(provider, MODEL_IDS[provider])}
    reported = {
        "runware": ("cost_usd", 0.04),
        "recraft": ("credits", 40.0),
        "pixeldojo": ("credits", 1.0),
        "cloudflare": ("cost_usd", None),
    }[provider]
    assert {getattr(e, reported[0]) for e in lock.values()} == {reported[1]}
    if provider == "runware":
        assert all(isinstance(e.seed, int) for e in lock.values())
    # what went over the wire is what the plan showed
    sent = [
        r.json
        for r in remote.requests_for(provider)
        if r.method == "POST" and r.json and "getResponse" not in json.dumps(r.json)
    ]
    bodies = [task for b in sent for task in (b if isinstance(b, list) else [b])]
    for b in bodies:
        b.pop("taskUUID", None)
    assert sorted(map(json.dumps, bodies)) == sorted(json.dumps(j["request"]) for j in plan["jobs"])
    index = json.loads((p / "dist" / "latest" / "index.json").read_text())
    assert {o["provider"] for o in index["outputs"]} == {provider}

    before = len(remote.requests)
    code, out, _ = run(p, "build")
    assert (code, len(remote.requests)) == (0, before), "a second build makes no request"
    assert "generated 0" in out


def test_max_cost_below_estimate_refuses_before_any_request(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "runware")
    assert run.json(p, "plan")["summary"]["estimated_cost_usd"] == pytest.approx(0.12)
    code, _, err = run(p, "build", "--max-cost", "0.10")
    assert code == 1
    assert "estimated cost $0.12 is over --max-cost $0.10" in err
    assert remote.requests == []
    assert run(p, "build", "--max-cost", "0.12")[0] == 0


def test_unknown_price_refuses_max_cost_unless_the_manifest_sets_one(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "pixeldojo")
    code, _, err = run(p, "build", "--max-cost", "5")
    assert code == 1 and "no price is known for pixeldojo/recraft-v4" in err
    assert remote.requests == []
    write_manifest(
        p,
        kit(
            "pixeldojo",
            palette=False,
            extra="providers:\n  pixeldojo:\n    prices: {recraft-v4: 0.05}\n",
        ),
    )
    assert run.json(p, "plan")["summary"]["estimated_cost_usd"] == pytest.approx(0.15)
    assert run(p, "build", "--max-cost", "0.15")[0] == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_key_names_the_variable_and_sends_nothing(
    run: Run, tmp_path: Path, remote: Emulator, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = next(iter(KEY_VARS[provider]))
    monkeypatch.delenv(variable)
    code, _, err = run(project(tmp_path, provider), "build")
    assert code == 1
    assert f"provider {provider!r} needs {variable}" in err
    assert remote.requests == []


def test_wrong_key_fails_cleanly_without_retrying_or_leaking(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECRAFT_API_TOKEN", "rc-WRONG-secret-value")
    code, out, err = run(project(tmp_path, "recraft"), "build", "--keep-going")
    assert code == 1
    assert "request unauthorized (HTTP 401)" in err
    assert "rc-WRONG-secret-value" not in out + err
    prompts = [r.json["prompt"] for r in remote.requests]
    assert 1 <= len(prompts) == len(set(prompts)), "401 is never retried"
    assert len(re.findall(r"^failed: ", err, re.M)) == 1, "said once, not once per job"


def test_base_url_from_the_manifest(
    run: Run, tmp_path: Path, remote: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRANDKIT_RECRAFT_URL")
    extra = f"providers:\n  recraft: {{base_url: '{remote.base_url('recraft')}'}}\n"
    write_manifest(tmp_path / "p", kit("recraft", extra=extra))
    code, _, err = run(tmp_path / "p", "build")  # only the manifest names it: refused
    assert code == 1 and "BRANDKIT_ALLOW_BASE_URL" in err
    assert remote.paid_by_provider["recraft"] == 0 and remote.requests == []
    monkeypatch.setenv("BRANDKIT_ALLOW_BASE_URL", remote.base_url("recraft"))
    assert run(tmp_path / "p", "build")[0] == 0
    assert remote.paid_by_provider["recraft"] == 3


def test_concurrency_limit_is_never_exceeded(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.latency = 0.15
    extra = "providers:\n  cloudflare: {concurrency: 2}\n"
    write_manifest(
        tmp_path / "p",
        kit("cloudflare", extra=extra).replace("'4:3'", "'4:3', '3:4', '2:1', '1:2', '3:2', '2:3'"),
    )
    assert run(tmp_path / "p", "build")[0] == 0
    assert remote.paid_by_provider["cloudflare"] == 8
    assert remote.max_in_flight == 2


def test_pixeldojo_refuses_colours_unless_told_to_drop_them(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    write_manifest(tmp_path / "p", kit("pixeldojo"))
    code, _, err = run(tmp_path / "p", "validate")
    assert code == 1
    assert re.search(
        r"brandkit.yaml:6:\d+: defaults.palette: pixeldojo has no colour controls", err
    )
    write_manifest(
        tmp_path / "p", kit("pixeldojo", extra="providers:\n  pixeldojo: {drop_colors: true}\n")
    )
    code, out, err = run(tmp_path / "p", "build")
    assert code == 0
    assert "warning: hero: pixeldojo has no colour controls" in err
    assert "generated 3" in out


def test_unsupported_model_and_seed_are_located_errors(run: Run, tmp_path: Path) -> None:
    write_manifest(
        tmp_path, kit("pixeldojo", palette=False).replace("recraft-v4\n", "recraft-v4-pro\n")
    )
    code, _, err = run(tmp_path, "validate")
    assert "defaults.model: pixeldojo does not serve 'recraft-v4-pro'; it offers recraft-v4" in err
    write_manifest(tmp_path, kit("runware", extra="  seed: 7\n"))
    code, _, err = run(tmp_path, "validate")
    assert code == 1 and "defaults.seed: runware does not accept `seed`" in err


@pytest.mark.parametrize("provider", PROVIDERS)
def test_keys_never_reach_a_file_or_the_output(
    run: Run, tmp_path: Path, remote: Emulator, provider: str
) -> None:
    p = project(tmp_path, provider)
    remote.inject(provider, "status", status=503)  # an error path too
    printed = ""
    for args in (("plan", "--json"), ("build", "-j", "1"), ("status",)):
        _, out, err = run(p, *args)
        printed += out + err
    secrets = [v.encode() for v in KEY_VARS[provider].values() if "acct" not in v]
    written = b"".join(
        f.read_bytes() for f in tmp_path.rglob("*") if f.is_file() and not f.is_symlink()
    )
    for secret in secrets:
        assert secret not in written
        assert secret.decode() not in printed

"""What a provider hands back is checked before anything journals or stores it
(trust.accept, applied by the executor to every result): a seed is an int in [0, 2**63),
cost and credits finite non-negative numbers, ids short printable strings, the image URL
a plain http(s) URL. Anything else is dropped with a warning (recorded as unknown), never
written as-is, never a NaN.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ProviderError
from pipeline.providers.base import Generated
from pipeline.providers.trust import accept, clean_fields
from tests.conftest import Run, project
from tests.emulator import Emulator


def lock_entries(p: Path) -> list[dict]:
    """The lock's entries, parsed strictly (NaN or Infinity would raise)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in the lock")

    lines = (p / "brandkit.lock").read_text("utf-8").splitlines()
    parsed = [json.loads(line, parse_constant=refuse) for line in lines if line.strip()]
    return [e for e in parsed if isinstance(e, dict) and "path" in e]


def index_outputs(p: Path) -> list[dict]:
    text = (p / "dist" / "latest" / "index.json").read_text("utf-8")
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in index.json"))["outputs"]


@pytest.mark.parametrize(
    ("provider", "fields", "warned"),
    [
        ("runware", {"seed": "42", "cost": float("nan")}, ["seed", "cost"]),
        ("runware", {"seed": 2**80, "cost": -0.04}, ["seed", "cost"]),
        ("runware", {"seed": True, "cost": "NaN"}, ["seed", "cost"]),
        ("runware", {"seed": -5, "cost": float("inf")}, ["seed", "cost"]),
        ("pixeldojo", {"seed": 1.5, "creditCost": float("nan")}, ["seed", "credits"]),
        ("pixeldojo", {"seed": [1], "creditCost": -3}, ["seed", "credits"]),
    ],
)
def test_hostile_seeds_and_costs_are_recorded_as_unknown(
    run: Run,
    tmp_path: Path,
    remote: Emulator,
    provider: str,
    fields: dict,
    warned: list[str],
) -> None:
    remote.inject(provider, "tamper", on="poll", times=None, fields=fields)
    p = project(tmp_path, provider)
    code, _, err = run(p, "build")
    assert code == 0, err
    for name in warned:
        assert f"warning: {provider}: ignored the {name} the provider returned" in err
    entries = lock_entries(p)
    assert entries and all(e.get("seed") is None for e in entries)
    assert all(e.get("cost_usd") is None and e.get("credits") is None for e in entries)
    assert all(o.get("seed") is None and o.get("cost_usd") is None for o in index_outputs(p))
    assert remote.paid_generations == 3


def test_recraft_credits_that_are_not_a_number(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("recraft", "tamper", times=None, fields={"credits": float("nan")})
    p = project(tmp_path, "recraft")
    code, _, err = run(p, "build")
    assert code == 0, err
    assert "warning: recraft: ignored the credits the provider returned (NaN)" in err
    assert all(e.get("cost_usd") is None and e.get("credits") is None for e in lock_entries(p))


def test_sane_values_are_kept(run: Run, tmp_path: Path, remote: Emulator) -> None:
    remote.inject("runware", "tamper", on="poll", times=None, fields={"seed": 7, "cost": 0.04})
    p = project(tmp_path, "runware")
    code, _, err = run(p, "build")
    assert code == 0, err
    assert "warning" not in err
    masters = [e for e in lock_entries(p) if e.get("cost_usd") is not None]
    assert masters and all(e["seed"] == 7 and e["cost_usd"] == 0.04 for e in masters)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "http:// spaced/x", "/files/x"]
)
def test_an_image_url_that_is_not_http_is_a_provider_error(
    run: Run, tmp_path: Path, remote: Emulator, url: str
) -> None:
    remote.inject("runware", "tamper", on="poll", times=None, fields={"imageURL": url})
    code, _, err = run(project(tmp_path, "runware"), "build")
    assert code == 1
    assert "the image URL it returned is not an http(s) URL" in err
    assert remote.requests_for("files") == []


def test_accept_directly() -> None:
    result = Generated(
        url="https://cdn.example/x.png",
        seed=2**63 - 1,
        cost_usd=0,
        credits=12,
        meta={"jobId": "j-1", "taskUUID": None, "n": 3, "junk": {"a": 1}, "long": "x" * 300},
    )
    accepted, warnings = accept("p", result)
    assert accepted.seed == 2**63 - 1 and accepted.cost_usd == 0.0 and accepted.credits == 12.0
    assert accepted.meta == {"jobId": "j-1", "taskUUID": None, "n": 3}
    assert len(warnings) == 2 and all("x" * 10 not in w for w in warnings)
    with pytest.raises(ProviderError):
        accept("p", Generated(url="javascript:alert(1)"))
    untouched = Generated(seed=1, cost_usd=0.5)
    assert accept("p", untouched) == (untouched, [])


def test_journaled_ids_are_checked() -> None:
    kept, dropped = clean_fields(
        {
            "jobId": "abc-123",
            "statusUrl": "https://pixeldojo.ai/api/v1/jobs/abc-123",
            "imageUUID": "a\x1b[2Jb",
            "other": "y" * 257,
            "flag": False,
            "nan": float("nan"),
        }
    )
    assert kept == {"jobId": "abc-123", "statusUrl": "https://pixeldojo.ai/api/v1/jobs/abc-123"}
    assert sorted(dropped) == ["flag", "imageUUID", "nan", "other"]

"""The providers' own example requests are test vectors (shared/seeds/).

For every example in the Runware and Cloudflare pages, a manifest asking for the same
prompt, size, colours and style makes `plan --json` show a `request` equal to the example
body: the random taskUUID aside, and documented optional fields allowed in addition. An
older example that sends a V3 `style`/`substyle` to a V4 model is refused instead: the
newer pages dropped those examples, and Recraft serves styles through the separate V4
Styles models (providers.md 2.1 "Styles", 4.3).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.models import find_model
from tests.conftest import Run, write_manifest
from tests.vectors.extract import DEFAULT_SEEDS, extract

VECTORS = json.loads((Path(__file__).parent / "vectors" / "seed_requests.json").read_text())
CASES = [(name, i, body) for name, bodies in VECTORS.items() for i, body in enumerate(bodies)]
# Documented optional fields we add on purpose: the lossless master, the reported cost,
# async delivery (Runware); an explicit size where an example relied on the default.
ALLOWED_EXTRA = {
    "runware": {"outputFormat", "includeCost", "deliveryMethod"},
    "cloudflare": {"size"},
}


def test_stored_vectors_match_the_seed_pages() -> None:
    if not DEFAULT_SEEDS.is_dir():
        if os.environ.get("CI"):  # CI always has shared/ beside the clone: never skip there
            pytest.fail(f"shared/seeds is missing at {DEFAULT_SEEDS}")
        pytest.skip("shared/seeds is not beside this checkout")
    assert extract(DEFAULT_SEEDS) == VECTORS
    assert [len(v) for v in VECTORS.values()] == [4, 4, 4, 5]


def manifest_for(provider: str, body: dict[str, Any]) -> str:
    """A brandkit.yaml asking for what the example asks for."""
    if provider == "runware":
        model, prompt = body["model"], body["positivePrompt"]
        size, colors = (
            (body["width"], body["height"]),
            (body.get("providerSettings", {}).get("recraft") or body.get("settings") or {}),
        )
        palette, background = colors.get("colors", []), colors.get("backgroundColor")
        style = substyle = None
    else:
        model, inputs = body["model"], body["input"]
        prompt = inputs["prompt"]
        w, h = inputs.get("size", "default").partition("x")[::2] if "size" in inputs else (0, 0)
        size = (int(w), int(h)) if w else None
        controls = inputs.get("controls", {})
        palette, background = controls.get("colors", []), controls.get("background_color")
        style, substyle = inputs.get("style"), inputs.get("substyle")
    info = find_model(provider, model)
    assert info is not None, model
    ratio = "1:1" if size is None else next(r for r, d in info.sizes.items() if d == size)
    asset: dict[str, Any] = {
        "prompt": prompt,
        "sizes": [ratio],
        "model": info.alias,
        "palette": [c["rgb"] for c in palette],
    }
    if background:
        asset["background"] = background["rgb"]
    if style:
        asset["style"] = style
    if substyle:
        asset["substyle"] = substyle
    return json.dumps(
        {
            "kit": {"name": "vectors"},
            "defaults": {"provider": provider},
            "assets": {"example": asset},
        },
        indent=1,
    )


@pytest.mark.parametrize(
    ("page", "index", "example"), CASES, ids=[f"{n[:3]}-{i}" for n, i, _ in CASES]
)
def test_plan_request_equals_the_documented_example(
    run: Run, tmp_path: Path, page: str, index: int, example: dict
) -> None:
    provider = "runware" if "taskType" in example else "cloudflare"
    write_manifest(tmp_path, manifest_for(provider, example))
    styles = sorted({"style", "substyle"} & set(example.get("input", {})))
    if styles:
        code, _, err = run(tmp_path, "plan")
        assert code == 1
        for key in styles:
            assert f"assets.example.{key}: recraft-v4-pro takes no V3 style/substyle" in err
        return
    (job,) = run.json(tmp_path, "plan")["jobs"]
    request = dict(job["request"])
    expected = {k: v for k, v in example.items() if k != "taskUUID"}
    if provider == "cloudflare":
        extra = set(request["input"]) - set(expected["input"])
        assert extra <= ALLOWED_EXTRA["cloudflare"]
        request["input"] = {k: v for k, v in request["input"].items() if k not in extra}
    else:
        extra = set(request) - set(expected)
        assert extra <= ALLOWED_EXTRA["runware"]
        request = {k: v for k, v in request.items() if k not in extra}
    assert request == expected

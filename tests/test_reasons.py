"""A job's reason names what changed, with old and new values (DESIGN "Command line"):
`colour signal #F97316 -> #22C55E`, `model recraft-v4 -> recraft-v4.1`, `size 16:9 added`,
`seed 1 -> 2`, `provider local -> runware`, the words added and removed from the prompt;
and `plan`, `plan -v`, `status` and their `--json` say the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from pipeline.reasons import PROMPT_WORDS, Made, compare, prompt_text, say
from tests.conftest import ROOT, Run, project, write_manifest
from tests.emulator import Emulator

KIT = """\
kit: {name: why}
brand: {name: Acme, colors: {signal: "#F97316", paper: "#F0EEE8", ink: "#112233"}}
defaults: {palette: [signal], background: paper, seed: 1}
assets:
  hero: {prompt: "a latte on an oak counter", sizes: ["16:9"]}
  icon: {prompt: "an icon", sizes: ["1:1"]}
"""


def valid(kind: str, data: Any) -> Any:
    schema = json.loads((ROOT / "schemas" / f"{kind}.schema.json").read_text("utf-8"))
    assert [e.message for e in Draft202012Validator(schema).iter_errors(data)] == []
    return data


def spec(**kw: Any) -> dict[str, Any]:
    base = {"prompt": "a cup", "width": 1024, "height": 1024, "palette": [[249, 115, 22]],
            "background": [240, 238, 232], "style": None, "substyle": None, "seed": 1}  # fmt: skip
    return {**base, **kw}


def reason(old: dict[str, Any], new: dict[str, Any], **made: str) -> str:
    colours = {"signal": (0x22, 0xC5, 0x5E), "paper": (240, 238, 232), "ink": (17, 34, 51)}
    a = Made(made.get("old_provider", "runware"), made.get("old_model", "recraft:v4@0"), old)
    b = Made(made.get("provider", "runware"), made.get("model", "recraft:v4@0"), new)
    return say(compare(a, b, colours))


def test_a_brand_colour_whose_value_changed_is_named_with_both_values() -> None:
    assert reason(spec(), spec(palette=[[0x22, 0xC5, 0x5E]])) == "colour signal #F97316 -> #22C55E"


def test_a_background_that_names_another_colour_says_both_names() -> None:
    assert reason(spec(), spec(background=[17, 34, 51])) == "background paper -> ink"


def test_model_provider_and_seed_changes_say_old_and_new_in_the_manifest_s_terms() -> None:
    assert reason(spec(), spec(), model="recraft:v4.1@0") == "model recraft-v4 -> recraft-v4.1"
    assert reason(spec(), spec(seed=2)) == "seed 1 -> 2"
    text = reason(spec(), spec(), old_provider="local", old_model="recraft-v4")
    assert text == "provider local -> runware", "the same alias is no model change"


def test_the_prompt_s_added_and_removed_words_are_named_and_bounded() -> None:
    assert prompt_text("a latte on an oak counter", "a latte on a walnut counter") == (
        'prompt +"a walnut" -"an oak"'
    )
    assert prompt_text("a  cup", "a cup") == "prompt reworded"
    many = prompt_text(
        " ".join(f"w{i}" for i in range(40)), " ".join(f"x{i} w{i}" for i in range(40))
    )
    assert many.count("+") == PROMPT_WORDS + 1 and many.endswith(" more)") and len(many) < 200
    long = prompt_text("a", "a " + "x" * 500)
    assert len(long) < 60


def test_a_request_with_nothing_the_user_wrote_changed_says_request_changed() -> None:
    assert reason(spec(), spec()) == "request changed"


def test_plan_plan_v_status_and_json_carry_the_same_reason(run: Run, tmp_path: Path) -> None:
    write_manifest(tmp_path, KIT)
    assert run(tmp_path, "build")[0] == 0
    edited = (
        KIT.replace("#F97316", "#22C55E").replace("oak", "walnut").replace("seed: 1", "seed: 2")
    )
    (tmp_path / "brandkit.yaml").write_text(edited.replace('["1:1"]', '["1:1", "16:9"]'))
    hero = 'prompt +"walnut" -"oak", colour signal #F97316 -> #22C55E, seed 1 -> 2'
    out = run(tmp_path, "plan")[1]
    assert f"generate hero 1344x768 [local/recraft-v4] {hero}  $0.000\n" in out
    assert "generate icon 1344x768 [local/recraft-v4] size 16:9 added  $0.000\n" in out
    assert f"] {hero}  $" in run(tmp_path, "plan", "-v")[1]
    plan = valid("plan", run.json(tmp_path, "plan"))
    jobs = {(j["asset"], j["request"]["width"]): j for j in plan["jobs"]}
    assert jobs["hero", 1344]["reason"] == hero
    assert {"field": "seed", "old": 1, "new": 2} in jobs["hero", 1344]["changes"]
    assert {"field": "palette", "old": "#F97316", "new": "#22C55E"} in jobs["hero", 1344]["changes"]
    assert jobs["icon", 1344]["reason"] == "size 16:9 added" and "changes" not in jobs["icon", 1344]
    code, out, _ = run(tmp_path, "status")
    assert code == 0 and f"  changed: hero/hero-16x9.png: {hero}\n" in out
    assert "  new: icon/icon-16x9.png\n" in out
    status = valid("status", run.json(tmp_path, "status"))
    assert f"changed: hero/hero-16x9.png: {hero}" in status["reasons"]
    assert {"path": "hero/hero-16x9.png", "field": "prompt", "old": "a latte on an oak counter",
            "new": "a latte on an walnut counter"} in status["changes"]  # fmt: skip


def test_a_model_change_is_explained_before_anything_is_paid(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "runware")
    assert run(p, "build")[0] == 0
    paid = remote.paid_by_provider["runware"]
    manifest = p / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("model: recraft-v4", "model: recraft-v4.1"))
    out = run(p, "plan")[1]
    assert out.count("] model recraft-v4 -> recraft-v4.1  $") == 3, out
    assert "3 jobs: 3 to generate, 0 to derive, 0 up to date (6 files: 6 to write, 0 reused)" in out
    assert remote.paid_by_provider["runware"] == paid, "planning pays nothing"


def test_a_size_or_format_added_to_a_built_job_is_named(run: Run, tmp_path: Path) -> None:
    write_manifest(tmp_path, KIT)
    assert run(tmp_path, "build")[0] == 0
    grown = KIT.replace('sizes: ["1:1"]}', 'sizes: ["1:1", "32x32"], formats: [png, webp]}')
    (tmp_path / "brandkit.yaml").write_text(grown)
    out = run(tmp_path, "plan")[1]
    assert "derive   icon 1024x1024 [local/recraft-v4] format webp, size 32x32 added\n" in out
    summary = out.splitlines()[-1]
    assert summary.startswith("2 jobs: 0 to generate, 1 to derive, 1 up to date (5 files: 3 to ")

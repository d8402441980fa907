"""`--json` on the read commands: one object on stdout, in the shape its JSON Schema in
schemas/ documents, checked here against real output of the CLI in every state that
changes the shape (valid or not, before and after a build, current or stale, zero, one
and two versions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import ROOT, Run, write_manifest

SCHEMAS = ROOT / "schemas"
KIT = """\
kit: {name: json-kit}
brand: {name: Acme, colors: {ink: "#112233", paper: "#F0EEE8"}}
defaults: {palette: [ink], background: paper}
assets:
  hero: {prompt: "a hero for {{ brand.name }}", sizes: ["16:9", "1200x630"]}
  icon: {prompt: "an icon", sizes: ["1:1", "32x32"], formats: [png, ico]}
"""


def check(kind: str, data: Any) -> Any:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text("utf-8"))
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(data)]
    assert errors == [], f"{kind} --json does not match schemas/{kind}.schema.json"
    return data


def json_of(run: Run, project: Path, *args: str, code: int = 0) -> Any:
    got, out, err = run(project, *args, "--json")
    assert got == code, err
    assert out.count("\n") == 1 or args[0] == "plan", "one object, on one line"
    return json.loads(out)


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    write_manifest(tmp_path / "kit", KIT)
    return tmp_path / "kit"


@pytest.mark.parametrize("kind", ["validate", "plan", "status", "versions", "diff"])
def test_each_read_command_has_a_valid_draft_2020_12_schema(kind: str) -> None:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{kind}.schema.json")


def test_validate_json_lists_every_error_as_data_and_exits_1(run: Run, kit: Path) -> None:
    ok = check("validate", json_of(run, kit, "validate"))
    assert ok == {
        "manifest": "brandkit.yaml", "valid": True, "assets": 2, "jobs": 3, "outputs": 5,
        "warnings": [], "errors": [],
    }  # fmt: skip
    (kit / "brandkit.yaml").write_text(KIT.replace('"16:9"', '"16:0"').replace("[ink]", "[inc]"))
    code, out, err = run(kit, "validate", "--json")
    assert (code, err) == (1, ""), "the errors are on stdout, as data"
    bad = check("validate", json.loads(out))
    assert bad["valid"] is False and bad["assets"] is None
    assert [(e["line"], e["path"]) for e in bad["errors"]] == [(5, "assets.hero.sizes[0]")]
    (kit / "brandkit.yaml").write_text(KIT.replace("[ink]", "[inc]"))
    bad = check("validate", json_of(run, kit, "validate", code=1))
    assert bad["errors"] == [
        {
            "file": "brandkit.yaml", "line": 3, "column": 22, "path": "defaults.palette[0]",
            "message": "'inc' is not a colour defined in brand.colors (ink, paper); use a "
            'defined name or a literal like "#3B2417"',
        }
    ]  # fmt: skip


def test_plan_json_matches_its_schema_before_and_after_a_build(run: Run, kit: Path) -> None:
    before = check("plan", json_of(run, kit, "plan"))
    assert {j["status"] for j in before["jobs"]} == {"generate"}
    assert before["summary"]["jobs"] == len(before["jobs"]) == 3
    assert run(kit, "build")[0] == 0
    after = check("plan", json_of(run, kit, "plan"))
    assert {j["status"] for j in after["jobs"]} == {"reuse"}
    (kit / "brandkit.yaml").write_text(
        KIT.replace("an icon", "a new icon").replace("  hero", "  x")
    )
    changed = check("plan", json_of(run, kit, "plan"))
    # hero renamed x: the same images at new paths are moves, not removals plus additions
    assert changed["moved"] and changed["summary"]["move"] == len(changed["moved"])
    assert all(m["from"].startswith("hero/") and m["to"].startswith("x/") for m in changed["moved"])
    assert changed["removed"] == [] and changed["summary"]["remove"] == 0


def test_status_json_exits_0_unless_check_and_stale(run: Run, kit: Path) -> None:
    never = check("status", json_of(run, kit, "status"))
    assert never["current"] is False and never["version"] is None
    assert run(kit, "build")[0] == 0
    current = check("status", json_of(run, kit, "status", "--check"))
    assert current == {
        "current": True, "version": "v0001", "reasons": [], "advice": None,
        "held": [], "pending_approval": [], "changes": [],
    }  # fmt: skip
    (kit / "brandkit.yaml").write_text(KIT.replace("an icon", "a new icon"))
    stale = check("status", json_of(run, kit, "status"))
    assert stale["current"] is False and stale["advice"] == "run brandkit build"
    assert 'changed: icon/icon-1x1.png: prompt +"a new" -"an"' in stale["reasons"]
    assert check("status", json_of(run, kit, "status", "--check", code=1)) == stale


def test_versions_and_diff_json_with_zero_one_and_two_versions(run: Run, kit: Path) -> None:
    assert check("versions", json_of(run, kit, "versions")) == {"versions": [], "latest": None}
    none = check("diff", json_of(run, kit, "diff"))
    assert (none["a"], none["b"], none["note"]) == (
        None, None, "no version published yet: nothing to compare (run brandkit build)",
    )  # fmt: skip
    assert run(kit, "build")[0] == 0
    one = check("diff", json_of(run, kit, "diff"))
    assert (one["a"], one["b"]) == (None, "v0001") and one["added"] == []
    assert one["note"] == "v0001 is the only version: nothing to compare it with"
    (kit / "brandkit.yaml").write_text(KIT.replace("an icon", "a new icon"))
    assert run(kit, "build")[0] == 0
    rows = check("versions", json_of(run, kit, "versions"))
    assert [(v["name"], v["latest"], v["outputs"]) for v in rows["versions"]] == [
        ("v0001", False, 5), ("v0002", True, 5),
    ]  # fmt: skip
    two = check("diff", json_of(run, kit, "diff"))
    assert (two["a"], two["b"], two["note"], two["added"]) == ("v0001", "v0002", None, [])
    assert [o["path"] for o in two["changed"]] == [
        "icon/icon-1x1.png", "icon/icon-32x32.png", "icon/icon.ico",
    ]  # fmt: skip
    assert check("diff", json_of(run, kit, "diff", "1", "v2")) == two
    code, out, err = run(kit, "diff", "v9999", "--json")
    assert (code, out) == (2, "") and err == "error: no version 'v9999'; published: v0001, v0002\n"

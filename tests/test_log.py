"""`brandkit log SELECTOR|PATH [--json]`: one output's history across versions (version,
key, reason, provider, cost), by a path relative to the version folder or under
dist/latest/, or by a selector over the manifest's jobs; exit 2 naming what exists when
it names nothing. The JSON checked against schemas/log.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Run, project, write_manifest
from tests.emulator import Emulator
from tests.test_reasons import valid

KIT = """\
kit: {name: history}
brand: {name: Acme, colors: {signal: "#F97316"}}
defaults: {palette: [signal]}
assets:
  hero: {prompt: "a latte on an oak counter", sizes: ["16:9"]}
  social:
    prompt: "{{ subject }} on a table"
    matrix: {subject: [beans, cups]}
    sizes: ["1:1"]
"""


@pytest.fixture
def three_versions(run: Run, tmp_path: Path) -> Path:
    """v0001 as KIT; v0002 the hero's prompt edited; v0003 the brand colour changed."""
    manifest = write_manifest(tmp_path, KIT)
    assert run(tmp_path, "build")[0] == 0
    manifest.write_text(KIT.replace("oak", "walnut"))
    assert run(tmp_path, "build")[0] == 0
    manifest.write_text(KIT.replace("oak", "walnut").replace("#F97316", "#22C55E"))
    assert run(tmp_path, "build")[0] == 0
    return tmp_path


def test_log_of_a_path_lists_each_version_that_changed_it_with_why(
    run: Run, three_versions: Path
) -> None:
    code, out, _ = run(three_versions, "log", "hero/hero-16x9.png")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "hero/hero-16x9.png" and len(lines) == 4
    assert lines[1].startswith("  v0001  ") and lines[1].endswith("  local/recraft-v4  $0.000  new")
    assert lines[2].startswith("  v0002  ") and lines[2].endswith('  prompt +"walnut" -"oak"')
    assert lines[3].startswith("  v0003  ") and lines[3].endswith("  palette #F97316 -> #22C55E")
    assert run(three_versions, "log", "dist/latest/hero/hero-16x9.png")[1] == out
    assert run(three_versions, "log", "dist/v0002/hero/hero-16x9.png")[1] == out


def test_log_by_selector_follows_the_jobs_outputs_and_json_matches_its_schema(
    run: Run, three_versions: Path
) -> None:
    data = valid("log", run.json(three_versions, "log", "social[subject=beans]"))
    assert data["target"] == "social[subject=beans]"
    (output,) = data["outputs"]
    assert output["path"] == "social/social-beans-1x1.png"
    events = output["history"]
    assert [e["version"] for e in events] == ["v0001", "v0003"], "v0002 left it as it was"
    assert events[0]["reason"] == "new" and events[0]["provider"] == "local"
    assert events[1]["changes"] == [{"field": "palette", "old": "#F97316", "new": "#22C55E"}]
    lock = [
        json.loads(x) for x in (three_versions / "brandkit.lock").read_text().splitlines()[1:] if x
    ]
    locked = {e["path"]: e for e in lock}
    assert events[1]["key"] == locked[output["path"]]["key"]
    every = valid("log", run.json(three_versions, "log", "social"))
    assert len(every["outputs"]) == 2


def test_a_removed_output_s_last_event_says_so(run: Run, three_versions: Path) -> None:
    (three_versions / "brandkit.yaml").write_text(KIT.replace("beans, cups", "beans"))
    assert run(three_versions, "build")[0] == 0
    events = run.json(three_versions, "log", "social/social-cups-1x1.png")["outputs"][0]["history"]
    assert events[-1]["version"] == "v0004" and events[-1]["reason"] == "removed"
    assert events[-1]["key"] is None


def test_an_unknown_selector_or_path_exits_2_naming_what_exists(
    run: Run, three_versions: Path
) -> None:
    code, _, err = run(three_versions, "log", "heor")
    assert code == 2 and "'heor' matches no job; assets: hero, social" in err
    code, _, err = run(three_versions, "log", "hero/nope.png")
    assert (
        code == 2
        and "no output 'hero/nope.png' in any version; published: hero/hero-16x9.png" in err
    )
    code, _, err = run(three_versions, "log", "social[subject=tea]")
    assert code == 2 and "subject: beans, cups" in err


def test_log_shows_the_provider_and_cost_a_paid_build_recorded(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "runware")
    assert run(p, "build")[0] == 0
    assert remote.paid_by_provider["runware"] == 3
    data = valid("log", run.json(p, "log", "hero@16:9"))
    (event,) = data["outputs"][0]["history"]
    lock = [json.loads(x) for x in (p / "brandkit.lock").read_text().splitlines()[1:] if x]
    entry = next(e for e in lock if e["path"] == data["outputs"][0]["path"])
    assert event["provider"] == "runware" and event["model"] == "recraft:v4@0"
    assert event["cost_usd"] == entry["cost_usd"]
    assert remote.paid_by_provider["runware"] == 3, "log pays nothing"


def test_help_readme_and_design_agree_on_log(run: Run, tmp_path: Path) -> None:
    from tests.conftest import ROOT

    code, out, _ = run(tmp_path, "log", "--help")
    assert code == 0 and "Usage: brandkit log [OPTIONS] SELECTOR|PATH" in out
    assert "history across versions: version, key, reason, provider, cost" in out
    assert "--json" in out
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "| `log SELECTOR\\|PATH [--json]` | one output's history across versions" in readme
    design = ROOT.parent / "shared" / "DESIGN.md"
    if design.exists():  # beside the worktrees, where the lead keeps it
        assert (
            "| `log SELECTOR\\|PATH` | one output's history across versions" in design.read_text()
        )

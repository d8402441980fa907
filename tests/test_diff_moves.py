"""A renamed or moved output (the same image at a new path) is a move, not a removal plus
an addition, in `plan` and in `diff`; and `diff` says per output what changed (key, size,
bytes, reason). Text and `--json`, the JSON checked against its schema."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Run, write_manifest
from tests.test_reasons import valid

KIT = """\
kit: {name: moves}
assets:
  hero: {prompt: "a latte on an oak counter", sizes: ["16:9", "1200x630"]}
  icon: {prompt: "an icon", sizes: ["1:1"]}
"""
MOVED = KIT.replace('sizes: ["1:1"]}', 'sizes: ["1:1"], out: "brand/{{ asset }}-{{ size }}.png"}')


def built(run: Run, tmp_path: Path) -> Path:
    write_manifest(tmp_path, KIT)
    assert run(tmp_path, "build")[0] == 0
    return tmp_path


def test_a_renamed_output_is_planned_and_stale_as_a_move_and_costs_nothing(
    run: Run, tmp_path: Path
) -> None:
    p = built(run, tmp_path)
    (p / "brandkit.yaml").write_text(MOVED)
    out = run(p, "plan")[1]
    assert "move     icon/icon-1x1.png -> brand/icon-1x1.png\n" in out
    assert "remove " not in out and "; 1 files to move;" in out
    assert "from the cache" not in out and "reuse " not in out, "the move line says it all"
    plan = valid("plan", run.json(p, "plan"))
    assert [(m["from"], m["to"]) for m in plan["moved"]] == [
        ("icon/icon-1x1.png", "brand/icon-1x1.png")
    ]
    assert plan["removed"] == [] and plan["summary"]["move"] == 1
    code, out, _ = run(p, "status")
    assert out == (
        "  moved: icon/icon-1x1.png -> brand/icon-1x1.png\n"
        "stale: 1 file difference(s); run brandkit build\n"
    )
    status = valid("status", run.json(p, "status"))
    assert status["reasons"] == ["moved: icon/icon-1x1.png -> brand/icon-1x1.png"]
    code, out, _ = run(p, "build")
    assert code == 0 and out.startswith("generated 0, "), "a move pays for nothing"


def test_diff_reports_the_move_and_nothing_added_or_removed(run: Run, tmp_path: Path) -> None:
    p = built(run, tmp_path)
    (p / "brandkit.yaml").write_text(MOVED)
    assert run(p, "build")[0] == 0
    code, out, _ = run(p, "diff")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "v0001 -> v0002: 0 added, 0 changed, 0 removed, 1 moved"
    assert lines[1].startswith("> icon/icon-1x1.png -> brand/icon-1x1.png  key ")
    d = valid("diff", run.json(p, "diff"))
    assert d["added"] == d["removed"] == d["changed"] == []
    assert [(m["from"], m["to"]) for m in d["moved"]] == [
        ("icon/icon-1x1.png", "brand/icon-1x1.png")
    ]


def test_diff_says_per_output_its_key_size_bytes_and_why(run: Run, tmp_path: Path) -> None:
    p = built(run, tmp_path)
    (p / "brandkit.yaml").write_text(KIT.replace("oak", "walnut").replace('"1:1"', '"1:1", "4:3"'))
    assert run(p, "build")[0] == 0
    code, out, _ = run(p, "diff", "1", "2")
    assert code == 0
    (hero,) = [x for x in out.splitlines() if x.startswith("~ hero/hero-16x9.png")]
    assert " key " in hero and " -> " in hero and "1344x768" in hero
    assert hero.endswith(': prompt +"walnut" -"oak"')
    assert "+ icon/icon-4x3.png  key " in out
    d = valid("diff", run.json(p, "diff"))
    changed = {c["path"]: c for c in d["changed"]}
    c = changed["hero/hero-1200x630.png"]
    assert c["size"] == c["old_size"] == "1200x630" and c["key"] != c["old_key"]
    assert isinstance(c["bytes"], int) and isinstance(c["old_bytes"], int)
    assert c["reason"] == 'prompt +"walnut" -"oak"'
    assert c["changes"] == [
        {
            "field": "prompt",
            "old": "a latte on an oak counter",
            "new": "a latte on an walnut counter",
        }
    ]
    (added,) = d["added"]
    assert added["path"] == "icon/icon-4x3.png" and added["size"] == "1216x896"

"""Candidates, pick and approval end to end (issue 15; DESIGN "Candidates, review and
approval"), with the priced Runware emulator: paid counts come from the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Run, write_manifest
from tests.emulator import Emulator
from tests.test_paid_work import latest
from tests.test_paid_work import lock_entries as lock


def manifest(
    hero: str = "a hero image", candidates: int = 3, extra: str = "", provider: str = "runware"
) -> str:
    return (
        "kit: {name: cands}\n"
        "brand: {name: Acme, colors: {ink: '#112233'}}\n"
        f"defaults:\n  provider: {provider}\n  model: recraft-v4\n{extra}"
        "assets:\n"
        f"  hero: {{prompt: '{hero}', sizes: ['16:9', '1200x675'], candidates: {candidates}}}\n"
        "  icon: {prompt: 'an icon', sizes: ['1:1']}\n"
    )


def kit(tmp_path: Path, **kw: object) -> Path:
    write_manifest(tmp_path / "p", manifest(**kw))  # type: ignore[arg-type]
    return tmp_path / "p"


def hero_lines(p: Path) -> dict[str, dict]:
    return {k: v for k, v in lock(p).items() if k.startswith("hero")}


def plan_jobs(run: Run, p: Path) -> list[dict]:
    return run.json(p, "plan")["jobs"]


def built(run: Run, p: Path, *args: str) -> str:
    code, _, err = run(p, "build", *args)
    assert code == 0, err
    return err


def test_three_candidates_pay_three_and_publish_candidate_one(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    jobs = plan_jobs(run, p)
    hero = [j for j in jobs if j["asset"] == "hero"]
    assert [j["master_of"] for j in hero] == [1, 2, 3]
    assert {(j["candidates"], j["candidate"], j["approved"]) for j in hero} == {(3, 1, False)}
    assert len({j["key"] for j in hero}) == 3
    assert [len(j["outputs"]) for j in hero] == [2, 0, 0], "only the chosen one has outputs"
    summary = run.json(p, "plan")["summary"]
    assert summary["generate"] == 4 and summary["estimated_cost_usd"] > 0
    # --max-cost covers every candidate: four images at the emulator's price
    code, _, err = run(p, "build", "--max-cost", str(summary["estimated_cost_usd"] - 0.001))
    assert code == 1 and "over --max-cost" in err and remote.paid_generations == 0
    built(run, p)
    assert remote.paid_generations == 4  # hero x3 + icon
    entries = hero_lines(p)
    assert {e["key"] for e in entries.values()} == {hero[0]["key"]}
    assert {(e.get("candidate", 1), e["candidates"]) for e in entries.values()} == {(1, 3)}
    assert "approved_key" not in next(iter(entries.values()))
    built(run, p)
    assert remote.paid_generations == 4, "a second build pays nothing"


def test_pick_pays_nothing_and_publishes_the_chosen_candidate(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    keys = [j["key"] for j in plan_jobs(run, p) if j["asset"] == "hero"]
    before, icon = latest(p), lock(p)["icon/icon-1x1.png"]
    code, out, err = run(p, "pick", "hero", "2")
    assert code == 0, err
    assert remote.paid_generations == 4
    assert "picked hero@16:9: candidate 2 of 3" in out and "published dist/v0002" in out
    entries = hero_lines(p)
    assert {(e["key"], e["candidate"]) for e in entries.values()} == {(keys[1], 2)}
    after = latest(p)
    assert after["icon/icon-1x1.png"] == before["icon/icon-1x1.png"]
    assert all(after[k] == entries[k]["sha256"] for k in entries)
    assert lock(p)["icon/icon-1x1.png"] == icon
    # plan now says candidate 2 is chosen and nothing to do; build pays nothing
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    assert {j["candidate"] for j in hero} == {2}
    assert [j["master_of"] for j in hero if j["outputs"]] == [2]
    assert {j["status"] for j in hero} == {"reuse"}
    built(run, p)
    assert remote.paid_generations == 4 and latest(p) == after
    code, out, _ = run(p, "pick", "hero", "1")
    assert code == 0 and {e["key"] for e in hero_lines(p).values()} == {keys[0]}
    assert "candidate" not in next(iter(hero_lines(p).values())), "default: not written"


def test_bad_selector_or_candidate_number_exits_2_naming_what_exists(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    lock_before = (p / "brandkit.lock").read_bytes()
    code, _, err = run(p, "pick", "hero", "4")
    assert code == 2
    assert "hero@16:9 has 3 candidate(s) (1-3): there is no candidate 4" in err
    code, _, err = run(p, "pick", "heor", "2")
    assert code == 2 and "assets: hero, icon" in err
    code, _, err = run(p, "pick", "hero@4:3", "2")
    assert code == 2 and "ratios: 16:9" in err
    code, _, err = run(p, "approve", "icon", "nope")
    assert code == 2 and "assets: hero, icon" in err
    code, _, err = run(p, "pick", "icon", "2")
    assert code == 2 and "icon@1:1 has 1 candidate(s)" in err
    assert (p / "brandkit.lock").read_bytes() == lock_before
    assert remote.paid_generations == 4


def test_picking_a_candidate_not_generated_says_build_first(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path, candidates=1)
    built(run, p)
    write_manifest(p, manifest(candidates=3))  # more candidates, not built yet
    code, _, err = run(p, "pick", "hero", "3")
    assert code == 1
    assert "hero@16:9: candidate 3 is not generated yet (not in the cache)" in err
    assert "run brandkit build first" in err
    assert remote.paid_generations == 2


def test_approve_records_the_chosen_key_and_unapprove_removes_it(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    run(p, "pick", "hero", "2")
    code, out, err = run(p, "approve", "hero")
    assert code == 0, err
    entries = hero_lines(p)
    assert {e["approved_key"] for e in entries.values()} == {next(iter(entries.values()))["key"]}
    assert "approved_key" not in lock(p)["icon/icon-1x1.png"]
    assert "dist/latest unchanged" in out, "already live: no new version"
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    assert {(j["approved"], j["state"]) for j in hero} == {(True, "approved")}
    assert run(p, "status", "--check")[0] == 0
    code, _, _ = run(p, "unapprove")
    assert code == 0 and not any("approved_key" in e for e in lock(p).values())
    assert {e["candidate"] for e in hero_lines(p).values()} == {2}, "the pick stays"
    assert remote.paid_generations == 4


def test_a_changed_approved_job_is_held_until_pick_and_approve(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    assert run(p, "approve", "hero")[0] == 0
    approved = {k: e["sha256"] for k, e in hero_lines(p).items()}
    approved_key = next(iter(hero_lines(p).values()))["approved_key"]

    write_manifest(p, manifest(hero="a brand new hero image"))  # the template changed
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    live = [j for j in hero if j["outputs"]]
    assert [(j["status"], j["key"], j["master_of"]) for j in live] == [("held", approved_key, None)]
    assert [j["status"] for j in hero if not j["outputs"]] == ["generate"] * 3
    err = built(run, p)
    assert remote.paid_generations == 4 + 3, "build pays for the 3 new candidates"
    assert "1 job(s) held, their approved images stay live: hero@16:9" in err
    assert {k: v for k, v in latest(p).items() if k.startswith("hero")} == approved
    assert {k: e["sha256"] for k, e in hero_lines(p).items()} == approved

    code, out, err = run(p, "plan")
    assert "held     hero" in out and "1 held (approved images stay live)" in out
    assert "1 job(s) held, their approved images stay live: hero@16:9" in err
    code, out, _ = run(p, "status", "--check")
    assert code == 1
    assert "held: hero@16:9" in out and "brandkit pick SELECTOR N" in out
    status = run.json(p, "status")
    assert status["held"] == ["hero@16:9"] and status["current"] is False

    # a pick alone keeps the approved image live; approve publishes it and releases hero
    code, out, _ = run(p, "pick", "hero", "3")
    assert code == 0 and "held" in out
    assert {k: v for k, v in latest(p).items() if k.startswith("hero")} == approved
    assert {e["candidate"] for e in hero_lines(p).values()} == {3}
    code, out, _ = run(p, "approve", "hero")
    assert code == 0
    new_keys = [j["key"] for j in hero if not j["outputs"]]
    entries = hero_lines(p)
    assert {(e["key"], e["approved_key"]) for e in entries.values()} == {(new_keys[2],) * 2}
    assert latest(p)["hero/hero-16x9.png"] != approved["hero/hero-16x9.png"]
    assert run(p, "status", "--check")[0] == 0
    assert remote.paid_generations == 7


def test_three_to_four_candidates_pays_one(run: Run, tmp_path: Path, remote: Emulator) -> None:
    p = kit(tmp_path)
    built(run, p)
    write_manifest(p, manifest(candidates=4))
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    assert [j["status"] for j in hero] == ["reuse", "reuse", "reuse", "generate"]
    assert hero[3]["reason"] == "candidate 4 of 4"
    before = latest(p)
    built(run, p)
    assert remote.paid_generations == 5
    assert latest(p) == before
    assert {e["candidates"] for e in hero_lines(p).values()} == {4}


def test_approval_required_publishes_nothing_unapproved(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = tmp_path / "p"
    write_manifest(p, manifest(candidates=2, extra="  approval: required\n"))
    err = built(run, p)
    assert remote.paid_generations == 3
    assert "approval required: 3 output(s) of 2 job(s) not published" in err
    assert latest(p) == {} and lock(p) == {}
    code, out, _ = run(p, "status", "--check")
    assert code == 1 and "awaiting approval: hero@16:9" in out
    assert run.json(p, "status")["pending_approval"] == ["hero@16:9", "icon@1:1"]

    # a pick of an unpublished job is kept; approve publishes that candidate
    code, out, _ = run(p, "pick", "hero", "2")
    assert code == 0 and latest(p) == {}
    code, out, err = run(p, "approve", "hero")
    assert code == 0, err
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    assert {e["candidate"] for e in hero_lines(p).values()} == {2}
    two = [j["key"] for j in hero if j["master_of"] == 2]
    assert {e["key"] for e in hero_lines(p).values()} == set(two)
    assert sorted(latest(p)) == ["hero/hero-1200x675.png", "hero/hero-16x9.png"]
    assert run(p, "status", "--check")[0] == 1, "icon still awaits approval"
    assert run(p, "approve")[0] == 0
    assert "icon/icon-1x1.png" in latest(p)
    assert run(p, "status", "--check")[0] == 0
    # unapprove under approval: required takes it out of the published kit again
    assert run(p, "unapprove", "icon")[0] == 0
    assert "icon/icon-1x1.png" not in latest(p) and "icon/icon-1x1.png" not in lock(p)
    assert remote.paid_generations == 3


def test_pick_on_a_lock_changed_by_a_merge_keeps_other_lines(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    # another branch approved icon; the merge brought its lock line, not its build
    text = (p / "brandkit.lock").read_text("utf-8")
    icon = lock(p)["icon/icon-1x1.png"]
    merged_icon = json.dumps({**icon, "approved_key": icon["key"]})
    (p / "brandkit.lock").write_text(text.replace(json.dumps(icon), merged_icon), "utf-8")
    assert lock(p)["icon/icon-1x1.png"]["approved_key"] == icon["key"]
    assert run(p, "pick", "hero", "2")[0] == 0
    after = (p / "brandkit.lock").read_text("utf-8")
    assert merged_icon in after.splitlines()
    assert {e["candidate"] for e in hero_lines(p).values()} == {2}
    assert remote.paid_generations == 4


def test_candidates_with_a_seed_ask_for_different_seeds_and_get_different_images(
    run: Run, tmp_path: Path
) -> None:
    p = tmp_path / "p"
    write_manifest(p, manifest(extra="  seed: 4294967295\n", provider="local"))
    hero = [j for j in plan_jobs(run, p) if j["asset"] == "hero"]
    assert [j["request"]["seed"] for j in hero] == [4294967295, 0, 1], (
        "seed + i - 1, wrapped to the schema's range"
    )
    built(run, p)
    shas = set()
    for n in (1, 2, 3):
        assert run(p, "pick", "hero", str(n))[0] == 0
        shas.add(latest(p)["hero/hero-16x9.png"])
    assert len(shas) == 3


def test_candidates_and_approval_are_validated_with_file_and_line(run: Run, tmp_path: Path) -> None:
    p = tmp_path / "p"
    write_manifest(
        p,
        "kit: {name: x}\nbrand: {name: Acme}\ndefaults:\n  provider: local\n"
        "  approval: always\n"
        "assets:\n  hero: {prompt: 'a', sizes: ['16:9'], candidates: 9}\n"
        "  icon: {prompt: 'b', sizes: ['1:1'], candidates: 0, approval: required}\n",
    )
    code, _, err = run(p, "validate")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == (
        "brandkit.yaml:5:13: defaults.approval: 'always' is not valid; "
        "use one of: optional, required"
    )
    assert lines[1:3] == [
        "brandkit.yaml:7:52: assets.hero.candidates: 9 is greater than the maximum of 8",
        "brandkit.yaml:8:51: assets.icon.candidates: 0 is less than the minimum of 1",
    ]
    assert lines[3].startswith("brandkit.yaml:8:54: assets.icon.approval: unknown key 'approval'")


def test_choice_reads_the_lock_and_falls_back_to_candidate_one() -> None:
    from pipeline.candidates import choose, plan_jobs
    from pipeline.jobs import GenerationSpec, Job, OutputTarget
    from pipeline.keys import content_key
    from pipeline.lockfile import LockEntry

    spec = GenerationSpec(prompt="p", width=64, height=64)
    out = OutputTarget(path="a/a.png", width=64, height=64, format="png", size="1:1")
    job = Job(content_key("local", "m", spec), "a", "local", "m", spec, (out,), candidates=3)
    keys = [content_key("local", "m", spec, i) for i in (1, 2, 3)]

    def entry(**kw: object) -> dict[str, LockEntry]:
        fields = dict(path="a/a.png", key=keys[0], sha256="0" * 64, width=64, height=64,
                      format="png", provider="local", model="m", seed=None, cost_usd=0.0,
                      credits=None, size=1)  # fmt: skip
        return {"a/a.png": LockEntry(**{**fields, **kw})}  # type: ignore[arg-type]

    [c] = choose([job], {})
    assert (c.chosen, c.state, c.live_key) == (1, "open", keys[0])
    [c] = choose([job], entry(candidate=2, candidates=3))
    assert (c.chosen, c.live_key) == (2, keys[1])
    [c] = choose([job], entry(candidate=5, candidates=5))
    assert c.chosen == 1, "a pick above today's count falls back to candidate 1"
    [c] = choose([job], entry(candidate=3, candidates=3, approved_key=keys[0]))
    assert (c.state, c.live_key, c.held) == ("held", keys[0], True)
    [c] = choose([job], entry(approved_key=keys[0]))
    assert (c.state, c.approved, c.live_key) == ("approved", True, keys[0])
    [c] = choose([job], {}, required={"a"}, picks={keys[0]: 2})
    assert (c.state, c.chosen, c.live_key) == ("pending", 2, None)
    [c] = choose([job], entry(candidate=3, candidates=3), picks={keys[0]: 2})
    assert c.chosen == 3, "the lock wins over a stale local pick"
    live, *extra = plan_jobs(choose([job], entry(candidate=2, candidates=3)))
    assert (live.key, live.outputs) == (keys[1], (out,))
    assert [(j.key, j.outputs) for j in extra] == [(keys[0], ()), (keys[2], ())]
    assert [j.key for j in plan_jobs(choose([job], {}, required={"a"}))] == keys


def test_a_held_approved_image_is_never_regenerated_from_new_inputs(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    import shutil

    p = kit(tmp_path, candidates=1)
    built(run, p)
    assert run(p, "approve", "hero")[0] == 0
    approved = {k: v for k, v in latest(p).items() if k.startswith("hero")}
    write_manifest(p, manifest(hero="another hero", candidates=1))
    built(run, p, "--force", "--only", "hero")  # the candidate, never the approved image
    assert remote.paid_generations == 2 + 1
    assert {k: v for k, v in latest(p).items() if k.startswith("hero")} == approved
    lock_before = (p / "brandkit.lock").read_bytes()
    shutil.rmtree(p / "dist")
    shutil.rmtree(p / ".brandkit")
    code, _, err = run(p, "build")
    assert code == 1
    assert "hero@16:9 is approved, but its approved image is neither in the cache nor" in err
    assert "brandkit unapprove hero@16:9" in err
    assert (p / "brandkit.lock").read_bytes() == lock_before, "the approval is kept"
    assert remote.paid_generations == 3


def test_a_partial_build_keeps_other_jobs_picks_and_approvals(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = kit(tmp_path)
    built(run, p)
    assert run(p, "pick", "hero", "2")[0] == 0
    assert run(p, "approve", "hero")[0] == 0
    hero = hero_lines(p)
    write_manifest(p, manifest().replace("an icon", "a new icon"))
    built(run, p, "--only", "icon")
    assert remote.paid_generations == 5
    assert hero_lines(p) == hero, "hero carried as published, with its pick and approval"


def test_approvals_on_two_branches_merge_without_conflict_end_to_end(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    import subprocess

    p = kit(tmp_path)
    built(run, p)
    (p / ".gitignore").write_text("dist/\n.brandkit/\n")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=p, capture_output=True, text=True, check=True,
        )  # fmt: skip

    git("init", "-q", "-b", "main")
    git("add", "."), git("commit", "-qm", "base")
    git("checkout", "-qb", "design")
    assert run(p, "approve", "hero")[0] == 0
    git("commit", "-qam", "approve hero")
    git("checkout", "-q", "main")
    assert run(p, "approve", "icon")[0] == 0
    git("commit", "-qam", "approve icon")
    git("merge", "-q", "--no-edit", "design")
    text = (p / "brandkit.lock").read_text("utf-8")
    assert "<<<<<<<" not in text
    assert all(e["approved_key"] == e["key"] for e in lock(p).values()), "both approvals"
    assert run(p, "status", "--check")[0] == 0
    assert remote.paid_generations == 4

"""Paid work protected from everyday mistakes (issue 12, section 5).

1. A plain `build` after `build --provider runware` (the manifest says `local`) must not
   replace the paid images with placeholders, nor pay another provider to redo them,
   without an explicit choice.
2. A 401, 402 or 403 stops that provider's remaining jobs with one message; the other
   providers' jobs go on, and jobs the provider had accepted stay journaled.

Paid counts come from the emulator.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.conftest import Run, journal, project, write_manifest
from tests.emulator import Emulator

CHOICES = (
    'run "brandkit build --provider runware" to keep building with runware, '
    'or "brandkit build --replace-paid" to replace them'
)


def lock_entries(p: Path) -> dict[str, dict]:
    lines = (p / "brandkit.lock").read_text("utf-8").splitlines()[1:]
    return {e["path"]: e for e in map(json.loads, filter(None, lines))}


def latest(p: Path) -> dict[str, str]:
    """sha256 of every image in dist/latest, by path (not index.json and index.html)."""
    root = (p / "dist" / "latest").resolve()
    return {
        f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file() and not f.name.startswith("index.")
    }


def versions(p: Path) -> list[str]:
    return sorted(d.name for d in (p / "dist").iterdir() if d.name.startswith("v"))


# --- 1. paid images are not replaced by a provider change alone ------------------------------


def test_plain_build_after_a_paid_build_refuses_to_publish_placeholders(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "local")  # the manifest says local
    code, _, err = run(p, "build", "--provider", "runware")
    assert code == 0, err
    assert remote.paid_generations == 3
    paid_lock, paid_dist = (p / "brandkit.lock").read_bytes(), latest(p)
    n = len(lock_entries(p))
    assert len(paid_dist) == n
    assert {e["provider"] for e in lock_entries(p).values()} == {"runware"}
    sent = len(remote.requests)

    code, out, err = run(p, "build")
    assert code == 1
    assert err == (
        f"error: {n} outputs published from runware would be replaced by local placeholders "
        f"(only the provider changed); nothing was generated: {CHOICES}\n"
    )
    assert len(remote.requests) == sent and remote.paid_generations == 3
    assert versions(p) == ["v0001"]
    assert latest(p) == paid_dist, "dist/latest still holds the paid images"
    assert (p / "brandkit.lock").read_bytes() == paid_lock

    # --dry-run, plan and status say the same, and what to run
    assert run(p, "build", "--dry-run")[0] == 0
    code, out, _ = run(p, "plan")
    assert code == 0
    assert (
        "generate hero 1344x768 [local/recraft-v4] provider changed runware -> local: "
        "would replace 2 outputs published from runware (build refuses without --replace-paid)"
    ) in out
    assert out.splitlines()[-1].endswith(
        f"; {n} outputs published from runware would be replaced by local placeholders: "
        "build refuses without --replace-paid"
    )
    data = run.json(p, "plan")
    assert data["summary"]["replaces_paid"] == n
    hero = next(j for j in data["jobs"] if j["asset"] == "hero")
    assert {(r["path"], r["provider"]) for r in hero["replaces_paid"]} == {
        ("hero/hero-16x9.png", "runware"),
        ("hero/hero-1200x675.png", "runware"),
    }
    code, out, _ = run(p, "status", "--check")
    assert code == 1
    assert "  provider changed runware -> local: hero/hero-16x9.png\n" in out
    assert out.splitlines()[-1] == (
        f"stale: {n} file difference(s); {n} outputs published from runware would be replaced "
        f"by local placeholders, so a plain build refuses: {CHOICES}"
    )

    # choice 1: keep building with runware; nothing to pay, nothing new to publish
    code, out, _ = run(p, "build", "--provider", "runware")
    assert code == 0 and "no changes, no new version" in out
    assert run(p, "status", "--provider", "runware")[1].startswith("up to date: dist/v0001")
    assert remote.paid_generations == 3

    # choice 2: replace them; the paid masters stay in the cache, so going back is free
    code, out, _ = run(p, "build", "--replace-paid")
    assert code == 0 and "published dist/v0002" in out
    assert {e["provider"] for e in lock_entries(p).values()} == {"local"}
    code, out, err = run(p, "build", "--provider", "runware")  # local -> paid: never refused
    assert code == 0, err
    assert "published dist/v0003" in out
    assert remote.paid_generations == 3
    assert latest(p) == paid_dist, "the very images paid for in the first build"


def test_build_help_names_the_choice(run: Run, tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "build", "--help")
    assert code == 0
    assert "--replace-paid      Let another provider replace outputs a paid provider" in out


def test_moving_from_placeholders_to_a_paid_provider_is_not_refused(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "local")
    assert run(p, "build")[0] == 0
    code, out, err = run(p, "build", "--provider", "runware")
    assert code == 0, err
    assert remote.paid_by_provider["runware"] == 3
    assert "published dist/v0002" in out
    assert {e["provider"] for e in lock_entries(p).values()} == {"runware"}

    # and back: the placeholders are all cached (nothing to generate), still refused
    code, out, _ = run(p, "plan")
    assert "reuse    hero 1344x768 [local/recraft-v4] provider changed runware -> local" in out
    assert "0 to generate, 0 to derive, 3 up to date" in out
    code, _, err = run(p, "build")
    assert code == 1 and "would be replaced by local placeholders" in err
    assert versions(p) == ["v0001", "v0002"]


def test_another_paid_provider_is_not_paid_to_redo_them(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "recraft")  # the manifest says recraft
    assert run(p, "build", "--provider", "runware")[0] == 0
    n = len(lock_entries(p))
    code, _, err = run(p, "build")
    assert code == 1
    assert err.startswith(
        f"error: {n} outputs published from runware would be replaced by recraft images, "
        "paid again (only the provider changed)"
    )
    assert remote.paid_by_provider["recraft"] == 0
    code, _, err = run(p, "build", "--replace-paid")
    assert code == 0, err
    assert remote.paid_by_provider["recraft"] == 3


def test_a_job_that_changed_besides_its_provider_is_not_held_back(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = project(tmp_path, "local")
    assert run(p, "build", "--provider", "runware")[0] == 0
    manifest = p / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("'a banner'", "'a wide banner'"))
    jobs = {j["asset"]: j for j in run.json(p, "plan")["jobs"]}
    assert "replaces_paid" not in jobs["banner"]
    assert jobs["banner"]["reason"] == 'provider runware -> local, prompt +"wide"'
    assert len(jobs["hero"]["replaces_paid"]) == 2
    code, out, err = run(p, "build", "--only", "banner")  # only what really changed
    assert code == 0, err
    assert "generated 1," in out and "published dist/v0002" in out
    assert lock_entries(p)["banner/banner-4x3.jpg"]["provider"] == "local"
    assert lock_entries(p)["hero/hero-16x9.png"]["provider"] == "runware"


# --- 2. a refused account stops that provider, once ------------------------------------------


def two_providers(tmp_path: Path, many: str, other: str) -> Path:
    """Six jobs on `many`, two on `other`."""
    return write_manifest(
        tmp_path / "p",
        "kit: {name: refusals}\n"
        "brand: {name: Acme, colors: {ink: '#112233', paper: '#F0EEE8'}}\n"
        f"defaults:\n  provider: {many}\n  model: recraft-v4\n  palette: [ink, paper]\n"
        "assets:\n"
        "  tiles:\n"
        "    prompt: 'a {{ subject }} tile'\n"
        "    matrix: {subject: [sun, moon, star, sea, sky, leaf]}\n"
        "    sizes: ['1:1']\n"
        f"  hero: {{prompt: 'a hero', provider: {other}, sizes: ['16:9', '4:3']}}\n",
    ).parent


MESSAGES = {
    ("runware", 401): "Invalid API key. Get one at https://runware.ai/signup (invalidApiKey)",
    ("runware", 402): "Insufficient credits to run this task. (insufficientCredits)",
    ("runware", 403): "The API key has no permission for this operation. (forbidden)",
    ("recraft", 401): "request unauthorized",
    ("recraft", 402): "Not enough API units on the balance (not_enough_credits)",
    ("recraft", 403): None,  # checked by its status only
}


@pytest.mark.parametrize(
    ("many", "other", "status", "jobs"),
    [
        ("runware", "recraft", 401, 1),
        ("runware", "recraft", 402, 2),
        ("runware", "recraft", 403, 2),
        ("recraft", "runware", 401, 2),
        ("recraft", "runware", 402, 1),
    ],
)
def test_a_refused_account_stops_its_provider_with_one_message(
    run: Run, tmp_path: Path, remote: Emulator, many: str, other: str, status: int, jobs: int
) -> None:
    p = two_providers(tmp_path, many, other)
    remote.inject(many, "status", status=status, times=None)
    code, out, err = run(p, "build", "-j", str(jobs))
    assert code == 1
    sent = [r for r in remote.requests_for(many) if r.method == "POST"]
    assert 1 <= len(sent) <= jobs, "only the requests in flight when it refused"
    assert remote.paid_by_provider[many] == 0
    assert remote.paid_by_provider[other] == 2, "the other provider's jobs went on"

    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1, err
    match = re.fullmatch(
        rf"failed: tiles\[subject=\w+\]@1:1 \({many}\): {many}: (.*) \(HTTP {status}\): "
        r"(\d+) more jobs? (refused|not sent)(?:, (\d+) not sent)?",
        failed[0],
    )
    assert match, failed[0]
    message = f"{match[1]} (HTTP {status})"
    if MESSAGES[many, status] is not None:
        assert match[1] == MESSAGES[many, status]
    refused = int(match[2]) if match[3] == "refused" else 0
    not_sent = int(match[4] or 0) if refused else int(match[2])
    assert refused + not_sent == 5 and refused <= jobs - 1
    # the provider's message once, not once per job; the progress line said what happened
    assert err.count(message) == 1
    assert f"{many} refused the account (HTTP {status}): its jobs not sent yet will " in err
    assert re.search(rf"generated 2, .*failed 1, not sent {not_sent} ", out)
    assert "nothing published" in out and not (p / "dist").exists()
    assert journal(p) == {}, "nothing was accepted: nothing to collect"


def test_jobs_the_provider_accepted_stay_journaled_and_are_collected_later(
    run: Run, tmp_path: Path, remote: Emulator
) -> None:
    p = two_providers(tmp_path, "runware", "recraft")
    remote.inject("runware", "status", status=401, on="poll")  # the key fails after submitting
    code, out, err = run(p, "build", "-j", "1")
    assert code == 1
    assert remote.paid_by_provider["runware"] == 1, "one task was submitted (and charged)"
    assert "(HTTP 401): 5 more jobs not sent" in err
    kept = journal(p)
    assert len(kept) == 1 and next(iter(kept.values())).get("taskUUID")

    code, out, err = run(p, "build", "-j", "1")
    assert code == 0, err
    assert "(1 collected from an earlier build)" in out
    assert remote.paid_by_provider["runware"] == 6, "six jobs, each paid once"
    assert journal(p) == {}

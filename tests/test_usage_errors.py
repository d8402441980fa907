"""Usage errors exit 2 with one line naming what would be valid, before anything is
loaded, locked, paid for or deleted; `diff` with fewer than two versions is no error; and
`gc` deletes only what it was told to: `--dry-run` lists, a terminal asks, `-y` confirms."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run, write_manifest

KIT = """\
kit: {name: usage}
assets:
  hero: {prompt: "a hero", sizes: ["16:9", "1200x630"]}
  icon: {prompt: "an icon", sizes: ["1:1"]}
"""
PROVIDERS = "local, runware, cloudflare, pixeldojo, recraft"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions: v0001, then v0002 with a new icon (v0001's icon blobs only it needs)."""
    from pipeline.cli import main

    project = tmp_path_factory.mktemp("usage") / "kit"
    write_manifest(project, KIT)
    assert main(["-C", str(project), "build"]) == 0
    write_manifest(project, KIT.replace("an icon", "a new icon"))
    assert main(["-C", str(project), "build"]) == 0
    return project


@pytest.fixture
def kit(built: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "kit"
    shutil.copytree(built, dest, symlinks=True)
    return dest


def tree(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in project.rglob("*"))


def published(project: Path) -> tuple[list[str], bytes]:
    """dist/ and the lock (the cache's own notes may change: a build drops its stamp)."""
    return tree(project / "dist"), (project / "brandkit.lock").read_bytes()


def kept(project: Path) -> tuple[list[str], bytes, list[str]]:
    """What gc may delete: versions and cache blobs (and the lock, which it never edits)."""
    return (*published(project), tree(project / ".brandkit" / "blobs"))


@pytest.mark.parametrize(
    "args",
    [["plan"], ["build"], ["build", "--dry-run"], ["status", "--check"], ["plan", "--json"]],
)
def test_an_unknown_provider_is_a_usage_error_naming_the_known_ones(
    run: Run, kit: Path, args: list[str]
) -> None:
    before = tree(kit)
    code, out, err = run(kit, *args, "--provider", "runwre")
    assert (code, out) == (2, "")
    assert err == f"error: unknown provider 'runwre' for --provider; known: {PROVIDERS}\n"
    assert tree(kit) == before


@pytest.mark.parametrize("args", [["plan"], ["plan", "--json"], ["build"], ["build", "--dry-run"]])
def test_only_matching_nothing_is_a_usage_error_listing_the_assets(
    run: Run, kit: Path, args: list[str]
) -> None:
    before = published(kit)
    code, out, err = run(kit, *args, "--only", "heor*")
    assert (code, out) == (2, "")
    assert err == "error: --only 'heor*' matches no asset id or output path (assets: hero, icon)\n"
    assert published(kit) == before, "no version, no lock change"
    code, out, _ = run(kit, *args, "--only", "icon/*.png")  # an output path selects too
    assert code == 0, out


@pytest.mark.parametrize("keep", ["0", "-1"])
def test_a_keep_below_one_is_a_usage_error(run: Run, kit: Path, keep: str) -> None:
    before = kept(kit)
    code, out, err = run(kit, "gc", "-y", "--keep", keep)
    assert (code, out) == (2, "")
    assert err == "error: --keep must be at least 1 (the latest version is always kept)\n"
    assert kept(kit) == before


@pytest.mark.parametrize("args", [["v9999"], ["9999", "v1"], ["v1", "v0003"]])
def test_a_version_that_does_not_exist_is_a_usage_error(
    run: Run, kit: Path, args: list[str]
) -> None:
    code, out, err = run(kit, "diff", *args)
    missing = "v9999" if "9999" in args[0] else "v0003"
    assert (code, out) == (2, "")
    assert err == f"error: no version '{missing}'; published: v0001, v0002\n"


def test_diff_with_one_version_or_none_exits_0_and_says_so(run: Run, tmp_path: Path) -> None:
    project = write_manifest(tmp_path / "kit", KIT).parent
    assert run(project, "diff") == (
        0, "no version published yet: nothing to compare (run brandkit build)\n", "",
    )  # fmt: skip
    assert run(project, "build")[0] == 0
    assert run(project, "diff") == (
        0,
        "v0001 is the only version: nothing to compare it with\n",
        "",
    )
    assert run(project, "diff", "v1")[1].startswith("v0001 -> v0001: 0 added, 0 changed")


def test_usage_errors_are_one_line_and_exit_2_from_the_real_command(kit: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "--only", "zz"],
        cwd=kit, env=env, text=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --only 'zz'")


@pytest.mark.parametrize(
    ("args", "says", "see"),
    [
        (["build", "--max-cost", "lots"], "'lots' is not a valid float", "brandkit build"),
        (["plan", "--jsn"], "--json", "brandkit plan"),
        (["buidl"], "No such command 'buidl'", "brandkit"),
        (["build", "--keep-going", "--fail-fast"], "contradict each other", "brandkit build"),
    ],
)
def test_a_command_line_click_refuses_is_one_line_too(
    run: Run, kit: Path, args: list[str], says: str, see: str
) -> None:
    """Click's own refusals (its wording varies by version) are one line, as ours."""
    code, out, err = run(kit, *args)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.endswith(f" (see '{see} -h')\n")
    assert says in err and err.count("\n") == 1


# -- gc: list, ask, or be told -----------------------------------------------------------------


def test_gc_dry_run_lists_what_would_go_and_deletes_nothing(run: Run, kit: Path) -> None:
    before = kept(kit)
    code, out, err = run(kit, "gc", "--dry-run", "--keep", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "would remove 1 version(s): v0001"
    assert lines[1].startswith("would remove ") and " cache blob(s), " in lines[1]
    blobs = int(lines[1].split()[2])
    assert blobs >= 1, "v0001's icon and its master are needed by nothing kept"
    assert kept(kit) == before
    code, out, _ = run(kit, "gc", "-y", "--keep", "1")
    assert code == 0 and out.startswith(f"removed 1 version(s), {blobs} cache blob(s)")
    assert not (kit / "dist" / "v0001").exists()
    assert run(kit, "status", "--check")[0] == 0


def test_gc_off_a_terminal_without_yes_deletes_nothing_and_says_how(run: Run, kit: Path) -> None:
    before = kept(kit)
    code, out, err = run(kit, "gc", "--keep", "1")  # stdin is no terminal under pytest
    assert (code, out) == (2, "")
    assert err == (
        "error: gc deletes only when confirmed: pass -y (or --yes) to delete without "
        "asking, or --dry-run to list what would go\n"
    )
    assert kept(kit) == before


def gc_on_a_terminal(project: Path, answer: bytes) -> subprocess.CompletedProcess[str]:
    """`brandkit gc --keep 1` with a pseudo-terminal for stdin, answering `answer`."""
    primary, secondary = pty.openpty()
    try:
        os.write(primary, answer)
        return subprocess.run(
            [sys.executable, "-m", "pipeline", "gc", "--keep", "1"],
            cwd=project, stdin=secondary, text=True, capture_output=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    finally:
        os.close(primary)
        os.close(secondary)


@pytest.mark.slow  # two processes, ~4 s on a loaded machine
def test_gc_on_a_terminal_asks_and_deletes_only_on_yes(kit: Path) -> None:
    before = kept(kit)
    declined = gc_on_a_terminal(kit, b"n\n")
    assert declined.returncode == 1, declined.stderr
    assert declined.stdout.startswith("would remove 1 version(s): v0001\n")
    assert "delete them? [y/N]" in declined.stderr and "nothing deleted" in declined.stderr
    assert kept(kit) == before
    accepted = gc_on_a_terminal(kit, b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines()[-1].startswith("removed 1 version(s), ")
    assert not (kit / "dist" / "v0001").exists() and (kit / "dist" / "v0002").is_dir()

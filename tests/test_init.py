"""`brandkit init` and `brandkit schema`: a starter kit that validates and builds
offline, linked to its schema beside it, and never written over an existing manifest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest

from pipeline import fastpath
from pipeline.manifest import schema_text
from tests.conftest import ROOT, Run, assert_published_tree


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`brandkit init kit`, then `brandkit build` in it (once for the module)."""
    from pipeline.cli import main

    base = tmp_path_factory.mktemp("starter")
    assert main(["-C", str(base), "init", "kit"]) == 0
    assert main(["-C", str(base / "kit"), "build"]) == 0  # the local provider: offline
    assert_published_tree(base / "kit")
    return base / "kit"


@pytest.fixture
def kit(starter: Path, tmp_path: Path) -> Path:
    """A copy of the built starter kit."""
    shutil.copytree(starter, tmp_path / "kit", symlinks=True)
    return tmp_path / "kit"


def test_init_writes_a_kit_that_validates_and_builds_offline(
    run: Run, tmp_path: Path, starter: Path
) -> None:
    code, out, err = run(tmp_path, "init", "Acme Studio")
    assert code == 0, err
    kit = tmp_path / "Acme Studio"
    assert sorted(p.name for p in kit.iterdir()) == [
        ".gitignore", "brandkit.schema.json", "brandkit.yaml",
    ]  # fmt: skip
    assert f"wrote {kit / 'brandkit.yaml'}" in out
    manifest = (kit / "brandkit.yaml").read_text("utf-8")
    assert manifest.splitlines()[0] == "# yaml-language-server: $schema=brandkit.schema.json"
    assert "name: acme-studio" in manifest and "name: Acme Studio" in manifest
    assert (kit / ".gitignore").read_text("utf-8").splitlines()[-1] == ".brandkit/"
    code, out, err = run(kit, "validate")
    assert (code, out) == (0, "brandkit.yaml: ok (3 assets, 7 generations, 10 outputs)\n"), err
    assert [p.name for p in (starter / "dist").iterdir() if p.name != "latest"] == ["v0001"]
    assert len(json.loads((starter / "dist" / "v0001" / "index.json").read_text())["outputs"]) == 10


def test_init_schema_file_is_the_manifest_schema_and_what_schema_prints(
    run: Run, tmp_path: Path
) -> None:
    assert run(tmp_path, "init")[0] == 0
    written = (tmp_path / "brandkit.schema.json").read_text("utf-8")
    assert written == schema_text() == (ROOT / "schemas" / "manifest.schema.json").read_text()
    code, out, _ = run(tmp_path, "schema")
    assert code == 0 and out == written
    assert json.loads(out)["$schema"].endswith("2020-12/schema")


def test_init_refuses_an_existing_manifest_and_writes_nothing(run: Run, tmp_path: Path) -> None:
    (tmp_path / "brandkit.yaml").write_text("kit: {name: mine}\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    code, out, err = run(tmp_path, "init")
    assert code == 1 and out == ""
    assert err == (
        f"error: {tmp_path}/brandkit.yaml already exists; nothing was written "
        "(`brandkit validate` checks it)\n"
    )
    assert (tmp_path / "brandkit.yaml").read_text() == "kit: {name: mine}\n"
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n"
    assert not (tmp_path / "brandkit.schema.json").exists()


def test_init_adds_the_cache_to_an_existing_gitignore_once(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".gitignore").write_text("node_modules/")  # no final newline
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ".gitignore").write_text("dist/\n.brandkit/\n")
    code, out, _ = run(tmp_path, "init", "a")
    assert code == 0 and "a/.gitignore" in out
    assert (tmp_path / "a" / ".gitignore").read_text().splitlines() == [
        "node_modules/", "# brandkit's local cache (safe to delete)", ".brandkit/",
    ]  # fmt: skip
    code, out, _ = run(tmp_path, "init", "b")
    assert code == 0 and ".gitignore" not in out, "already ignored: left alone"
    assert (tmp_path / "b" / ".gitignore").read_text() == "dist/\n.brandkit/\n"


def test_init_kit_name_is_a_valid_id_whatever_the_folder_is_called(
    run: Run, tmp_path: Path
) -> None:
    for folder, name in (("__", "my-kit"), ("Café 2.0!", "caf-2-0")):
        assert run(tmp_path, "init", folder)[0] == 0
        assert f"  name: {name}  " in (tmp_path / folder / "brandkit.yaml").read_text()
        assert run(tmp_path / folder, "validate")[0] == 0


@pytest.mark.slow
def test_init_and_schema_work_from_the_wheel_without_the_source_tree(tmp_path: Path) -> None:
    """After a plain `pip install`: the schema and the starter come from package data, not
    from schemas/ beside a checkout. The wheel is built (hatchling, as pip would) and
    unpacked where no schemas/ folder is near."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    site = tmp_path / "site"
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as wheel:
        wheel.extractall(site)
    assert not (site / "schemas").exists()
    env = {**os.environ, "PYTHONPATH": str(site)}
    kit = tmp_path / "kit"
    for args in (["init", str(kit)], ["-C", str(kit), "validate"], ["schema"]):
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "schemas" / "manifest.schema.json").read_text()
    assert (kit / "brandkit.schema.json").read_text() == result.stdout


# -- finding the manifest, as git finds .git ---------------------------------------------------


def _in(folder: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in process, started in `folder` with neither -C nor -f."""
    from pipeline.cli import main

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        capsys.readouterr()
        code = main(list(args))
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return code, out, err


def test_manifest_is_found_in_a_parent_folder_and_named_as_found(
    kit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = kit / "assets" / "drafts"
    deep.mkdir(parents=True)
    code, out, err = _in(deep, capsys, "validate")
    assert (code, out) == (0, "../../brandkit.yaml: ok (3 assets, 7 generations, 10 outputs)\n")
    manifest = kit / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("one simple shape", "two shapes"))
    assert _in(deep, capsys, "status", "--check")[0] == 1
    code, out, err = _in(deep, capsys, "build")
    assert code == 0, err
    assert (kit / "dist" / "v0002").is_dir(), "built in the manifest's folder"
    assert not (deep / "dist").exists() and not (deep / ".brandkit").exists()
    assert_published_tree(kit)
    assert _in(deep, capsys, "status", "--check")[:2] == (0, "up to date: dist/v0002\n")
    cwd = os.getcwd()
    os.chdir(deep)
    try:  # the no-op fast path finds the same manifest (and its stamp) from below
        assert fastpath.try_noop(["status", "--check"]) == 0
        assert fastpath.parse(["build"]) == (str(kit.resolve()), str(manifest.resolve()), "build",
                                             {"manifest": "brandkit.yaml", "provider": None,
                                              "max_jobs": None})  # fmt: skip
        assert fastpath.parse(["-C", ".", "build"])[0] == str(deep.resolve())  # type: ignore[index]
    finally:
        os.chdir(cwd)
    manifest.write_text(manifest.read_text().replace("name: kit ", "name: Kit!"))
    code, out, err = _in(deep, capsys, "validate")
    assert code == 1 and err.startswith("../../brandkit.yaml:11:9: kit.name: the kit name is")


def test_the_nearest_manifest_wins_and_c_or_f_turn_the_search_off(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "init", "outer")[0] == 0
    assert run(tmp_path / "outer", "init", "inner")[0] == 0
    inner = tmp_path / "outer" / "inner"
    (inner / "sub").mkdir()
    assert _in(inner / "sub", capsys, "validate")[1].startswith("../brandkit.yaml: ok")
    code, _, err = _in(inner / "sub", capsys, "-C", ".", "validate")
    assert code == 1 and err.startswith("error: brandkit.yaml: no such file")
    code, _, err = _in(inner / "sub", capsys, "-f", "brandkit.yaml", "validate")
    assert code == 1 and err.startswith("error: brandkit.yaml: no such file")


def test_no_manifest_here_or_above_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _in(tmp_path, capsys, "plan")
    assert (code, out) == (1, "")
    assert err == (
        f"error: no brandkit.yaml in {tmp_path.resolve()} or any folder above it (create one "
        "with `brandkit init`, or name it with -C DIR / -f FILE)\n"
    )


# -- habits brought from other tools: completion, pre-commit, documented flags ----------------


def test_shell_completion_scripts_and_answers_for_bash_zsh_and_fish(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through cli.main, the boundary that escapes output (click writes completion as
    bytes: the boundary lets it through rather than crash)."""
    from pipeline.cli import main

    def complete(**variables: str) -> tuple[int, str]:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main([])
        return code, capsys.readouterr().out

    for shell in ("bash", "zsh", "fish"):
        code, script = complete(_BRANDKIT_COMPLETE=f"{shell}_source")
        assert code == 0 and "_brandkit_completion" in script and "_BRANDKIT_COMPLETE" in script
    words = complete(_BRANDKIT_COMPLETE="bash_complete", COMP_WORDS="brandkit ver", COMP_CWORD="1")
    assert words == (0, "plain,versions\n")
    assert complete(COMP_WORDS="brandkit gc --d", COMP_CWORD="2") == (0, "plain,--dry-run\n")
    readme = (ROOT / "README.md").read_text("utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_BRANDKIT_COMPLETE={shell}_source brandkit" in readme


def test_pre_commit_hooks_run_validate_and_status_check(run: Run, kit: Path) -> None:
    import shlex

    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert sorted(by_id) == ["brandkit-status", "brandkit-validate"]
    assert by_id["brandkit-validate"]["entry"] == "brandkit validate"
    assert by_id["brandkit-status"]["entry"] == "brandkit status --check"
    for hook in hooks:
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert re.search(hook["files"], "brand/brandkit.yaml")
    status = shlex.split(by_id["brandkit-status"]["entry"])[1:]
    validate = shlex.split(by_id["brandkit-validate"]["entry"])[1:]
    assert run(kit, *validate)[0] == 0
    assert run(kit, *status)[0] == 0
    manifest = kit / "brandkit.yaml"
    manifest.write_text(manifest.read_text().replace("one simple shape", "two shapes"))
    assert run(kit, *status)[0] == 1, "stale: the commit fails"
    manifest.write_text(manifest.read_text().replace("sizes:", "sizs:", 1))
    assert run(kit, *validate)[0] == 1
    assert "brandkit-validate" in (ROOT / "README.md").read_text("utf-8")


def test_every_flag_in_the_readme_command_table_is_one_the_command_takes() -> None:
    from pipeline.cli import cli

    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("| command | does | exit |", 1)[1].split("\n\n", 1)[0]
    seen = set()
    for row in table.splitlines()[2:]:
        for usage in re.findall(r"`([a-z]+(?: [^`]*)?)`", row.split("|")[1]):
            name, *words = usage.split()
            command = cli.commands[name]
            if isinstance(command, click.Group) and words:  # `cache status --json`
                command = command.commands[words[0]]
            flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
            for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(words)):
                assert flag in flags, f"README: `{name} {flag}`, but {name} takes {sorted(flags)}"
            seen.add(name)
    assert {"init", "schema", "validate", "status", "versions", "diff", "gc"} <= seen
    assert {"pick", "approve", "unapprove", "review", "cache"} <= seen


# -- output names: a ratio that does not read as a pixel size -----------------------------------


def test_the_starter_writes_ratios_with_a_dash_and_pixel_sizes_with_an_x(starter: Path) -> None:
    index = json.loads((starter / "dist" / "v0001" / "index.json").read_text("utf-8"))
    paths = sorted(o["path"] for o in index["outputs"])
    assert "icon/icon-1-1.png" in paths and "hero/hero-16-9.png" in paths
    assert "icon/icon-180x180.png" in paths and "hero/hero-1200x630.png" in paths
    assert not [p for p in paths if "-1x1." in p or "-16x9." in p]


def test_ratio_format_renames_ratio_outputs_without_generating_again(
    run: Run, tmp_path: Path
) -> None:
    """Existing kits keep `1x1` (the default is unchanged); setting ratio_format renames
    their ratio outputs in the next version, and costs nothing: a path is no part of a
    content key."""
    text = (
        "kit: {name: names}\n"
        "assets:\n"
        '  icon: {prompt: "an icon", sizes: ["1:1", "32x32"], formats: [png, ico]}\n'
        '  hero: {prompt: "a hero", sizes: ["16:9"], out: "web/hero-{{ size }}.{{ format }}"}\n'
    )
    project = tmp_path / "kit"
    project.mkdir()
    (project / "brandkit.yaml").write_text(text)
    assert run(project, "build")[0] == 0
    lock = (project / "brandkit.lock").read_text()
    assert "icon/icon-1x1.png" in lock and "web/hero-16x9.png" in lock
    (project / "brandkit.yaml").write_text(
        text.replace("{name: names}", '{name: names, ratio_format: "{w}-{h}"}')
    )
    code, out, err = run(project, "build")
    assert code == 0, err
    assert out.startswith("generated 0, ") and out.endswith("published dist/v0002\n")
    lock = (project / "brandkit.lock").read_text()
    assert "icon/icon-1-1.png" in lock and "web/hero-16-9.png" in lock  # out: sees it too
    assert "icon/icon-32x32.png" in lock and "icon-1x1" not in lock
    diff = run(project, "diff")[1].splitlines()
    assert diff[0] == "v0001 -> v0002: 0 added, 0 changed, 0 removed, 2 moved", "renames are moves"


def test_a_ratio_format_that_could_leave_its_folder_is_refused(run: Run, tmp_path: Path) -> None:
    project = tmp_path / "kit"
    project.mkdir()
    for bad in ('"{w}/{h}"', '"{h}-{w}"', '"square"'):
        (project / "brandkit.yaml").write_text(
            f"kit: {{name: x, ratio_format: {bad}}}\n"
            'assets: {a: {prompt: "p", sizes: ["1:1"]}}\n'
        )
        code, _, err = run(project, "validate")
        assert code == 1
        assert err.startswith("brandkit.yaml:1:30: kit.ratio_format: ratio_format names a ratio")

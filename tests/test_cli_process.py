"""The CLI as a real process: what a user or a CI job sees, exit codes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def brandkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this source tree, installed or not
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def test_build_status_and_plain_progress_in_ci(sample: Path) -> None:
    result = brandkit("build", "-j", "2", cwd=sample)
    assert result.returncode == 0, result.stderr
    assert "[20/20]" in result.stderr, "plain progress lines when not on a terminal"
    assert "\x1b[" not in result.stderr, "no terminal control codes in CI logs"
    assert result.stdout.endswith("published dist/v0001\n")
    assert brandkit("status", "--check", cwd=sample).returncode == 0


def test_invalid_manifest_exit_1_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "brandkit.yaml").write_text(
        "kit: {name: x}\nassets: {a: {prompt: '{{ x', sizes: ['1:1']}}\n"
    )
    result = brandkit("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("brandkit.yaml:2:22: assets.a.prompt: template syntax error")


def test_usage_error_exits_2(tmp_path: Path) -> None:
    result = brandkit("build", "--max-cost", "lots", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_version_and_help(tmp_path: Path) -> None:
    assert brandkit("--version", cwd=tmp_path).stdout.startswith("brandkit, version ")
    assert "validate" in brandkit("--help", cwd=tmp_path).stdout


def test_httpx_comes_without_its_command_line_client(tmp_path: Path) -> None:
    """`import httpx` would also import its CLI (rich's console, pygments) because
    click and rich are installed: 100 ms of every remote build. import_httpx leaves it
    out, and leaves the import system as it found it."""
    probe = (
        "import sys\n"
        "from pipeline.providers.http import import_httpx\n"
        "before = set(sys.modules)\n"
        "httpx = import_httpx()\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new & {'rich', 'pygments', 'click'}), 'httpx._main' in sys.modules,\n"
        "      callable(httpx.AsyncClient))\n"
        "import httpx._main\n"  # still importable by whoever wants it
        "print('rich' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    assert out.splitlines() == ["[] False True", "True"]


def test_exit_skips_teardown_but_not_output_or_exit_code(sample: Path) -> None:
    """The process ends with os._exit (exits.exit_now): everything it printed still
    arrives whole, through a pipe, and the exit code is the command's."""
    result = brandkit("plan", "--json", cwd=sample)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["jobs"] and result.stdout.endswith("}\n")
    (sample / "brandkit.yaml").write_text("kit: {}\n")
    result = brandkit("plan", cwd=sample)
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("in the manifest")


def test_exit_now_still_finds_the_exit_handlers() -> None:
    """exit_now runs the exit handlers through atexit's private _run_exitfuncs, and ends
    with os._exit (no teardown: 100-200 ms per command). Should a Python drop it, exit_now
    falls back to the usual exit, slower: this test fails so that someone decides."""
    import atexit

    assert callable(getattr(atexit, "_run_exitfuncs", None)), (
        "atexit._run_exitfuncs is gone: exits.exit_now now exits the slow way"
    )
    script = (
        "import atexit, sys\n"
        "from pipeline.cli import exit_now\n"
        "atexit.register(lambda: print('handler ran', flush=True))\n"
        "class Torn:\n"
        "    def __del__(self): print('torn down', flush=True)\n"
        "kept = Torn()\n"
        "print('before', end='')\n"
        "exit_now(4)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (result.returncode, result.stdout) == (4, "beforehandler ran\n"), result.stderr


def test_under_a_profiler_the_exit_is_the_usual_one(sample: Path, tmp_path: Path) -> None:
    """cProfile writes its results at exit: os._exit would lose them."""
    out = tmp_path / "validate.prof"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "pipeline", "validate"],
        cwd=sample,
        text=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0

"""The no-op fast path answers only when nothing that could matter has changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline import fastpath
from tests.conftest import Run

ROOT = Path(__file__).resolve().parent.parent


def fast(project: Path, *args: str) -> int | None:
    return fastpath.try_noop(["-C", str(project), *args])


@pytest.fixture
def built(run: Run, built_sample: Path) -> Path:
    """A built copy of the sample; a copy has new inodes, so status stamps it afresh."""
    dest = built_sample
    assert run(dest, "status", "--check")[0] == 0
    assert fast(dest, "build") == 0
    return dest


def test_no_op_build_and_status_are_answered_without_loading_anything(built: Path) -> None:
    # Neither the heavy libraries nor the standard library's slow imports (start-up is most
    # of a no-op's cost); counted beyond what the interpreter had loaded before (its `site`
    # may have imported some of them already).
    probe = f"""\
import sys
before = set(sys.modules)
from pipeline.main import entry
sys.argv = ['brandkit', '-C', {str(built)!r}, *sys.argv[1:]]
try:
    entry()
except SystemExit as e:
    code = e.code
slow = {{'yaml', 'jinja2', 'jsonschema', 'httpx', 'PIL', 'click', 'rich', 'diskcache',
        'json', 're', 'pathlib', 'typing'}}
print(code, sorted({{m.split('.')[0] for m in set(sys.modules) - before}} & slow))
"""
    for args in (["build"], ["status", "--check"], ["build", "-j", "4", "--no-wait"]):
        out = subprocess.run(
            [sys.executable, "-c", probe, *args],
            text=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        ).stdout
        assert out.splitlines()[-1] == "0 []", (args, out)
    assert "no changes, no new version" in out or "up to date" in out


def test_the_answer_is_the_same_as_the_full_path(
    run: Run, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fastpath.forget(built)
    full = run(built, "build")[1]
    capsys.readouterr()
    assert fast(built, "build") == 0
    assert capsys.readouterr().out == full
    full = run(built, "status", "--check")[1]
    assert fast(built, "status", "--check") == 0
    assert capsys.readouterr().out == full


def test_manifest_bytes_defeat_it(run: Run, built: Path) -> None:
    manifest = built / "brandkit.yaml"
    manifest.write_text(manifest.read_text() + "# a comment\n")
    assert fast(built, "build") is None
    assert run(built, "build")[0] == 0  # the full path confirms, and stamps again
    assert fast(built, "build") == 0


def test_lock_changes_defeat_it(built: Path) -> None:
    lock = built / "brandkit.lock"
    lock.write_text(lock.read_text().replace('"seed": ', '"seed":  ', 1))
    assert fast(built, "build") is None


def test_provider_and_manifest_options_defeat_it(built: Path) -> None:
    assert fast(built, "build", "--provider", "runware") is None
    assert fast(built, "status", "--check", "--provider=local") is None
    assert fast(built, "build", "--max-jobs", "50") is None
    (built / "other.yaml").write_text((built / "brandkit.yaml").read_text())
    assert fast(built, "-f", "other.yaml", "build") is None


@pytest.mark.parametrize(
    "args",
    [
        ["build", "--force"],
        ["build", "--only", "hero"],
        ["build", "--dry-run"],
        ["plan"],
        ["build", "--help"],
        ["validate"],
        ["build", "--bogus"],
    ],
)
def test_other_invocations_take_the_full_path(built: Path, args: list[str]) -> None:
    assert fast(built, *args) is None


def test_tool_version_defeats_it(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "__version__", "99.0.0")
    monkeypatch.setattr(fastpath, "_fingerprint", [])  # as a new process of that version
    assert fast(built, "build") is None


def test_a_deleted_output_defeats_it(run: Run, built: Path) -> None:
    (built / "dist" / "latest" / "story" / "story-9x16.webp").unlink()
    assert fast(built, "build") is None
    assert run(built, "status", "--check")[0] == 1


def test_a_modified_output_defeats_it(built: Path) -> None:
    target = (built / "dist" / "latest" / "hero" / "hero-1x1.png").resolve()
    data = target.read_bytes()
    target.unlink()
    target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, different bytes
    assert fast(built, "build") is None


def test_latest_pointing_elsewhere_defeats_it(built: Path) -> None:
    (built / "dist" / "latest").unlink()
    (built / "dist" / "latest").symlink_to("v0001/hero")
    assert fast(built, "build") is None


def test_a_pending_journal_entry_defeats_it(built: Path) -> None:
    journal = built / ".brandkit" / "journal.jsonl"
    journal.write_text(json.dumps({"key": "abc", "provider": "runware"}) + "\n")
    assert fast(built, "build") is None


def test_a_build_removes_the_stamp_before_it_starts(
    run: Run, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import workflow

    def dying_build(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "build", dying_build)
    manifest = built / "brandkit.yaml"
    manifest.write_text(manifest.read_text() + "\n")
    assert run(built, "build")[0] == 130
    manifest.write_text(manifest.read_text()[:-1])  # back to the stamped bytes
    assert not Path(fastpath.stamp_path(built)).exists()
    assert fast(built, "build") is None


def test_a_partial_build_writes_no_stamp(run: Run, sample: Path) -> None:
    assert run(sample, "build", "--only", "hero")[0] == 0
    assert not Path(fastpath.stamp_path(sample)).exists()


def test_a_damaged_stamp_is_ignored(built: Path) -> None:
    stamp = Path(fastpath.stamp_path(built))
    whole = stamp.read_bytes()
    fields = whole.split(b"\0")
    for damaged in (
        b"brandkit-stamp/2\0garbage",
        b"\0".join(fields[:-3] + fields[-1:]),  # one output (path and stat) cut out
        b"\0".join(fields[:-1]),  # the end marker cut off
        whole[: len(whole) // 2],
        whole.replace(b"\0", b"\xff\0", 1),  # not UTF-8
    ):
        stamp.write_bytes(damaged)
        assert fast(built, "build") is None, damaged[-40:]
    stamp.write_bytes(whole)
    assert fast(built, "build") == 0

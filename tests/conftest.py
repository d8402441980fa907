"""Shared fixtures: every test works in its own temp dir, with no provider keys set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.emulator.fixture import emulator  # noqa: F401  (the loopback provider emulator)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample-project"
PROVIDER_ENV = (
    "RUNWARE_API_KEY",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "PIXELDOJO_API_KEY",
    "RECRAFT_API_TOKEN",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch real state or the network: no keys, no inherited overrides."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in ("RUNWARE", "CLOUDFLARE", "PIXELDOJO", "RECRAFT"):
        monkeypatch.delenv(f"BRANDKIT_{name}_URL", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A fresh copy of sample-project/ (without any build output)."""
    dest = tmp_path / "sample"
    shutil.copytree(
        SAMPLE, dest, ignore=shutil.ignore_patterns(".brandkit", "dist", "brandkit.lock")
    )
    return dest


class Run:
    """The CLI, in process: exit code and captured output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]):
        self.capsys = capsys

    def __call__(self, project: Path, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["-C", str(project), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, project: Path, *args: str) -> dict:
        code, out, err = self(project, *args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def write_manifest(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "brandkit.yaml"
    path.write_text(text, encoding="utf-8")
    return path

"""Shared fixtures: every test works in its own temp dir, with no provider keys set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.emulator import Emulator
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
    monkeypatch.delenv("BRANDKIT_ALLOW_BASE_URL", raising=False)
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


def journal(project: Path) -> dict[str, dict]:
    """A project's journal entries by key, read straight from its file (read-only): a
    line per change, the last about a key wins, `{"drop": key}` removes it, a line cut
    short by a kill is skipped."""
    path = project / ".brandkit" / "journal.jsonl"
    entries: dict[str, dict] = {}
    for line in path.read_text("utf-8").splitlines() if path.exists() else []:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "drop" in item:
            entries.pop(item["drop"], None)
        else:
            entries[item["key"]] = item
    return entries


def write_manifest(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "brandkit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- remote providers, pointed at the loopback emulator ---------------------------------

KEY_VARS = {
    "runware": {"RUNWARE_API_KEY": "rw-test-key"},
    "cloudflare": {"CLOUDFLARE_API_TOKEN": "cf-test-token", "CLOUDFLARE_ACCOUNT_ID": "acct123"},
    "pixeldojo": {"PIXELDOJO_API_KEY": "pd-test-key"},
    "recraft": {"RECRAFT_API_TOKEN": "rc-test-token"},
}
PROVIDERS = list(KEY_VARS)


def kit(provider: str, *, palette: bool = True, extra: str = "") -> str:
    colours = "  palette: [ink, paper]\n  background: paper\n" if palette else ""
    return (
        f"kit: {{name: remote}}\n"
        f"brand: {{name: Acme, colors: {{ink: '#112233', paper: '#F0EEE8'}}}}\n"
        f"defaults:\n  provider: {provider}\n  model: recraft-v4\n{colours}"
        f"{extra}"
        "assets:\n"
        "  hero: {prompt: 'a hero image for {{ brand.name }}', sizes: ['16:9', '1200x675']}\n"
        "  icon: {prompt: 'an icon', sizes: ['1:1', '32x32'], formats: [png, ico]}\n"
        "  banner: {prompt: 'a banner', sizes: ['4:3'], format: jpg}\n"
    )


@pytest.fixture
def remote(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:  # noqa: F811
    """Keys and base URLs for every provider point at the emulator; waits are short."""
    for provider, variables in KEY_VARS.items():
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(f"BRANDKIT_{provider.upper()}_URL", emulator.base_url(provider))
    monkeypatch.setenv("BRANDKIT_RETRY_BASE", "0.01")
    monkeypatch.setenv("BRANDKIT_POLL_INTERVAL", "0.01")
    return emulator


def project(tmp_path: Path, provider: str, **kw: object) -> Path:
    write_manifest(tmp_path / "p", kit(provider, palette=provider != "pixeldojo", **kw))
    return tmp_path / "p"

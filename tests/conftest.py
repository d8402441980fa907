"""Shared fixtures: every test works in its own temp dir, with no provider keys set."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import settings
from PIL import Image

from pipeline.cli import main
from tests.browser import browser  # noqa: F401  (headless Chromium, one per module)
from tests.emulator import Emulator
from tests.emulator.fixture import emulator  # noqa: F401  (the loopback provider emulator)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample-project"
# Property tests are reproducible: the same examples on every run (derandomize), a failure
# prints the blob that replays it (@reproduce_failure). HYPOTHESIS_PROFILE=explore searches
# afresh (random examples) when hunting for new failures by hand.
settings.register_profile(
    "brandkit", derandomize=True, print_blob=True, database=None, deadline=None
)
settings.register_profile("explore", derandomize=False, print_blob=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "brandkit"))

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
    isolate(monkeypatch, tmp_path)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear every provider key and brandkit override from the environment."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in ("RUNWARE", "CLOUDFLARE", "PIXELDOJO", "RECRAFT"):
        monkeypatch.delenv(f"BRANDKIT_{name}_URL", raising=False)
    monkeypatch.delenv("BRANDKIT_ALLOW_BASE_URL", raising=False)
    for name in ("BRANDKIT_REMOTE", "BRANDKIT_REMOTE_ENDPOINT", "BRANDKIT_REMOTE_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)  # no shared remote cache but the test's own
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


@pytest.fixture(scope="session")
def _built_sample_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample-project/ built once per test process with `local` (20 jobs, ~2 s)."""
    dest = tmp_path_factory.mktemp("built") / "sample"
    shutil.copytree(
        SAMPLE, dest, ignore=shutil.ignore_patterns(".brandkit", "dist", "brandkit.lock")
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, dest.parent)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["-C", str(dest), "build"]) == 0
    assert_published_tree(dest)
    return dest


@pytest.fixture
def built_sample(_built_sample_once: Path, tmp_path: Path) -> Path:
    """A copy of sample-project/ as its first build left it: dist/v0001, the lock and the
    cache. For tests whose subject is what comes after a build; the first build itself is
    tested from scratch (test_build.py). A copy has new inodes, so no stamp vouches for it."""
    dest = tmp_path / "sample"
    shutil.copytree(_built_sample_once, dest, symlinks=True)
    return dest


class Run:
    """The CLI, in process: exit code and captured output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]):
        self.capsys = capsys

    def __call__(self, project: Path, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["-C", str(project), *args])
        out, err = self.capsys.readouterr()
        if code == 0 and "build" in args:  # every successful build leaves a whole tree
            assert_published_tree(project)
        return code, out, err

    def json(self, project: Path, *args: str) -> dict:
        code, out, err = self(project, *args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def wait_until(
    predicate: Callable[[], object], *, timeout: float = 60.0, message: str, interval: float = 0.02
) -> None:
    """Poll `predicate` until it holds; fail with `message` after `timeout` seconds (a
    wait in a test ends: generous, for a loaded 2-core machine, but never forever)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s: {message}")
        time.sleep(interval)


# --- the published tree, checked whole after every successful build ----------------------

MAGIC: dict[str, Callable[[bytes], bool]] = {
    "png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "jpg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "ico": lambda b: b.startswith(b"\x00\x00\x01\x00"),
}
PILLOW_FORMAT = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "ico": "ICO"}
SVG_ROOTS = ("svg", "{http://www.w3.org/2000/svg}svg")
TEXT_CHECKS: dict[str, Callable[[bytes], object]] = {  # outputs that are not raster images
    "svg": lambda b: ElementTree.fromstring(b).tag in SVG_ROOTS or None,
    "webmanifest": lambda b: isinstance(json.loads(b), dict) or None,
    "html": lambda b: b.decode("utf-8"),
}
LOCK_FIELDS = (
    "key", "sha256", "width", "height", "format", "provider", "model", "seed", "cost_usd",
    "credits", "size",
)  # fmt: skip
_DECODED: dict[str, tuple[str, tuple[int, int]]] = {}  # sha256 -> what Pillow made of it


def _decoded(data: bytes, sha: str) -> tuple[str, tuple[int, int]]:
    """Pillow's format and size after a full decode (remembered by sha256: the same bytes
    decode the same way, and the placeholder provider makes the same bytes in many tests)."""
    if sha not in _DECODED:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # every pixel: a truncated or garbled file fails here
            for ico_size in image.ico.sizes() if image.format == "ICO" else ():  # every frame
                assert image.ico.getimage(ico_size).size == ico_size
            _DECODED[sha] = (image.format or "", image.size)
    return _DECODED[sha]


def assert_published_tree(project: Path) -> None:
    """dist/latest, index.json and brandkit.lock agree, file by file: each output's bytes
    are the format its extension names (magic and a full decode), the size index.json
    states, and hash to the lock's sha256. Read here with json and hashlib, not with
    brandkit's own readers, so a bug there cannot vouch for itself."""
    lock_path, latest = project / "brandkit.lock", project / "dist" / "latest"
    if not lock_path.exists() and not latest.exists():
        return  # nothing published yet (a dry run, a build that planned nothing)
    lines = lock_path.read_text("utf-8").splitlines()
    assert json.loads(lines[0]).get("brandkit_lock") == 2, "the lock's header"
    lock = {e["path"]: e for e in map(json.loads, filter(None, lines[1:]))}
    index = json.loads((latest / "index.json").read_text("utf-8"))
    outputs = {o["path"]: o for o in index["outputs"]}
    assert sorted(lock) == sorted(outputs), "the lock and index.json name other outputs"
    on_disk = {
        str(f.relative_to(latest))
        for f in latest.rglob("*")
        if not f.is_dir() and f.name not in ("index.json", "index.html")
    }
    assert on_disk == set(lock), "dist/latest holds other files than the lock names"
    for path, entry in lock.items():
        o = outputs[path]
        assert {f: entry.get(f) for f in LOCK_FIELDS} == {f: o.get(f) for f in LOCK_FIELDS}, (
            f"{path}: the lock and index.json disagree"
        )
        # How it was cut: the same, unless the index is an older brandkit's (no transform),
        # which a build that changes no bytes leaves as it was. (Lock: absent is plain.)
        if "transform" in o:
            assert entry.get("transform", "") == o["transform"], f"{path}: cut differently"
        file = latest / path
        assert not file.is_symlink(), f"{path} is a symlink"
        data = file.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        assert sha == entry["sha256"], f"{path}: bytes differ from the lock's sha256"
        if entry.get("size") is not None:
            assert len(data) == entry["size"], f"{path}: size differs from the lock's"
        ext = path.rsplit(".", 1)[-1].lower()
        assert ext == o["format"], f"{path}: extension {ext!r}, format {o['format']!r}"
        if ext in TEXT_CHECKS:  # svg parses with an <svg> root, webmanifest is JSON, html text
            assert TEXT_CHECKS[ext](data) is not None, f"{path}: not a valid {ext} file"
            continue
        assert MAGIC[ext](data), f"{path}: its bytes are not a {ext} file: {data[:12]!r}"
        fmt, size = _decoded(data, sha)
        assert fmt == PILLOW_FORMAT[ext], f"{path}: Pillow reads {fmt}, not {ext}"
        assert size == (o["width"], o["height"]), f"{path}: {size} but index.json says " + (
            f"{o['width']}x{o['height']}"
        )


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

"""The contact sheet in a real headless Chromium, as a designer opens it from disk."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import (
    NARROW,
    WIDE,
    Browser,
    all_images_loaded,
    artefact_dir,
    horizontal_overflow,
)
from tests.conftest import SAMPLE, assert_published_tree

CHANGED = "a tin of sencha"  # the story's subject in v0001; the sample's own in v0002


def brandkit(project: Path, *args: str) -> str:
    """The real CLI in its own process (Playwright's sync API keeps an event loop running
    in this one, so a build cannot share it); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def build_sample(dest: Path) -> Path:
    """The sample kit published twice: v0001 with another story subject, v0002 as the
    sample is (so the story has changed since v0001, and nothing else has)."""
    shutil.copytree(
        SAMPLE, dest, ignore=shutil.ignore_patterns(".brandkit", "dist", "brandkit.lock")
    )
    manifest = dest / "brandkit.yaml"
    text = manifest.read_text("utf-8")
    original = "loose-leaf tea spilling from a tin"
    assert original in text
    manifest.write_text(text.replace(original, CHANGED), "utf-8")
    brandkit(dest, "build")
    manifest.write_text(text, "utf-8")
    brandkit(dest, "build")
    assert_published_tree(dest)
    return dest


# A browser start and a sample build: seconds. CI runs them (pytest -m slow).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample(tmp_path_factory.mktemp("sheet") / "sample")


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_contact_sheet_loads_offline_with_every_image_and_no_sideways_scroll(
    browser: Browser,
    built_sample: Path,
    width: int,
) -> None:
    sheet = built_sample / "dist" / "latest" / "index.html"
    page, report = browser.open(sheet, width=width)
    try:
        assert all_images_loaded(page) == [], "every image on the sheet resolves"
        assert report.console_errors == []
        assert report.failed == [] and report.remote == [], "works offline, no external assets"
        assert horizontal_overflow(page) == 0, f"no horizontal overflow at {width} px"
        index = json.loads((built_sample / "dist" / "latest" / "index.json").read_text())
        images = [o for o in index["outputs"] if o["format"] not in ("webmanifest", "html")]
        assert page.evaluate("document.images.length") == len(images), "one per image output"
        page.screenshot(path=str(artefact_dir() / f"contact-sheet-{width}.png"), full_page=True)
    finally:
        page.context.close()


def test_contact_sheet_images_have_alt_text(browser: Browser, built_sample: Path) -> None:
    page, _ = browser.open(built_sample / "dist" / "latest" / "index.html")
    try:
        missing = page.evaluate("[...document.images].filter(i => !i.alt.trim()).map(i => i.src)")
        assert missing == [], "every image says what it is (alt text) for screen readers"
    finally:
        page.context.close()


def test_contact_sheet_badges_only_what_changed_since_the_version_before(
    browser: Browser, built_sample: Path
) -> None:
    page, _ = browser.open(built_sample / "dist" / "latest" / "index.html")
    try:
        badged = page.evaluate(
            "[...document.querySelectorAll('figure')].filter(f => f.querySelector('.badge'))"
            ".map(f => [f.querySelector('.badge').textContent, f.querySelector('a').textContent])"
        )
        assert badged == [["changed since v0001", "story/story-9x16.webp"]], badged
    finally:
        page.context.close()


def test_contact_sheet_keeps_manifest_order_and_sorts_sizes_numerically(
    browser: Browser, built_sample: Path
) -> None:
    page, _ = browser.open(built_sample / "dist" / "latest" / "index.html")
    try:
        headings = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
        text = (built_sample / "brandkit.yaml").read_text("utf-8")
        ids = re.findall(r"^  ([a-z0-9][a-z0-9_-]*):\n", text.split("\nassets:\n")[1], re.M)
        assert headings == ids, "assets in the manifest's order"
        icons = page.evaluate(
            "[...document.querySelectorAll('figure a')].map(a => a.textContent)"
            ".filter(t => t.startsWith('app-icon/') && t.endsWith('.png'))"
        )
        assert icons == [f"app-icon/app-icon-{n}x{n}.png" for n in (16, 32, 180, 512, 1024)], (
            "16 before 32 before 180 (not 1024 before 16)"
        )
    finally:
        page.context.close()


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_contact_sheet_shows_true_aspect_ratios_and_icons_at_real_size(
    browser: Browser, built_sample: Path, width: int
) -> None:
    page, _ = browser.open(built_sample / "dist" / "latest" / "index.html", width=width)
    try:
        assert all_images_loaded(page) == []
        shown = page.evaluate(
            "[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, "
            "i.naturalHeight, i.getBoundingClientRect().width, i.getBoundingClientRect().height])"
        )
        for src, nw, nh, w, h in shown:
            assert abs(w / h - nw / nh) <= 0.02 * nw / nh + 1 / h, f"{src}: {w}x{h} of {nw}x{nh}"
            if max(nw, nh) <= 256 and not src.endswith(".svg"):  # (an SVG: at 32 px)
                assert (round(w), round(h)) == (nw, nh), f"{src}: an icon is shown at real size"
    finally:
        page.context.close()

"""The contact sheet in a real headless Chromium, as a designer opens it from disk."""

from __future__ import annotations

import json
import os
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


@pytest.fixture(scope="module")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample kit, built by the real CLI in its own process (Playwright's sync API
    keeps an event loop running in this one, so the build cannot share it)."""
    dest = tmp_path_factory.mktemp("sheet") / "sample"
    shutil.copytree(
        SAMPLE, dest, ignore=shutil.ignore_patterns(".brandkit", "dist", "brandkit.lock")
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(dest), "build"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_published_tree(dest)
    return dest


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

"""A real headless browser for the pages brandkit writes (contact sheet, review page).

Debian's `chromium` (/usr/bin/chromium, or $BRANDKIT_CHROMIUM), driven by Playwright's
Python package with `executable_path`: no browser is ever downloaded at test time. Where
the browser is missing, the tests skip with a message; under CI (`CI` set) they fail
instead, since `.ci/run` installs it and a skip there would hide a broken page.

Screenshots go to $BRANDKIT_ARTEFACTS (default: a `brandkit-artefacts` dir under the
system temp dir), kept after the run as CI artefacts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The flags Chromium needs on a closed, headless CI machine: no sandbox as root, no GPU, and
# none of its own background connections (refused here, and slow to fail).
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
WIDE, NARROW = 1400, 390  # a laptop and a phone, in CSS pixels
LOCAL = ("file:", "data:", "blob:")  # what a page opened from disk may load


def chromium_path() -> str | None:
    explicit = os.environ.get("BRANDKIT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def artefact_dir() -> Path:
    root = os.environ.get("BRANDKIT_ARTEFACTS") or os.path.join(
        tempfile.gettempdir(), "brandkit-artefacts"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PageReport:
    """What a page did when loaded: console errors, failed requests, requests off disk."""

    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)


class Browser:
    """One Chromium for a test module; each `open` gets a fresh context (clipboard allowed
    unless `clipboard=False`) and reports what the page did."""

    def __init__(self, browser: Any):
        self._browser = browser

    def open(
        self, path: Path, *, width: int = WIDE, clipboard: bool = True
    ) -> tuple[Any, PageReport]:
        context = self._browser.new_context(viewport={"width": width, "height": 900})
        if clipboard:
            context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = context.new_page()
        if not clipboard:  # Chromium lets a page write by default: deny it, as a policy may
            deny_clipboard(context, page)
        report = PageReport()
        errors, failed, remote = report.console_errors, report.failed, report.remote
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else remote.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        return page, report


def deny_clipboard(context: Any, page: Any) -> None:
    """Clipboard access denied in this context (CDP Browser.setPermission): writeText and
    readText reject with NotAllowedError, as where a user or a policy refuses it."""
    cdp = context.new_cdp_session(page)
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    for name in ("clipboard-read", "clipboard-write"):
        cdp.send(
            "Browser.setPermission",
            {"permission": {"name": name}, "setting": "denied", "browserContextId": context_id},
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an
    event loop running in this thread while it is open, and the in-process CLI tests that
    run after a browser module on the same xdist worker need asyncio.run to work."""
    executable = chromium_path()
    if executable is None:
        message = "no chromium on this machine (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must not skip the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield Browser(launched)
        finally:
            launched.close()


def all_images_loaded(page: Any) -> list[str]:
    """The src of every <img> that did not decode (scrolls through the page first, so
    lazy images load too)."""
    page.evaluate(
        "async () => { for (const img of document.images) { img.loading = 'eager'; } "
        "await Promise.all([...document.images].map(i => i.decode().catch(() => null))); }"
    )
    return page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scroll)."""
    return page.evaluate(
        "Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth)"
    )

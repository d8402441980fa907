"""The review page in a real headless Chromium, as a designer opens it from disk: every
image resolves, nothing is fetched, the copy buttons put the exact command on the
clipboard (or, where the clipboard is denied, leave it selected in a visible field), the
keyboard reaches every button, and the layout never scrolls sideways."""

from __future__ import annotations

import re
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
from tests.test_pages_browser import brandkit, build_sample

# The fixture builds the sample four times (~30 s under load): CI runs these (`-m slow`);
# tests/test_review_page.py covers the data and the HTML in the default run.
pytestmark = pytest.mark.slow

HERO = "hero@16:9"  # three candidates, candidate 2 picked, held
CHOSEN = 2
PICK = f"brandkit pick {HERO} 3"
APPROVED = "story@9:16"  # its chosen candidate approved


@pytest.fixture(scope="module")
def review_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample kit published twice (the story changed in v0002), then through the real
    commands: hero with 3 candidates and the story approved; hero's prompt changed and
    built (held: 3 new candidates each, the approved images stay live; candidate 2 of one
    picked); the email banner's motif changed (changed); a new asset (new). `brandkit
    review` in its own process."""
    root = build_sample(tmp_path_factory.mktemp("review") / "sample")
    manifest = root / "brandkit.yaml"
    text = manifest.read_text("utf-8")
    kettle = ("a glass teapot on a driftwood", "a copper kettle on a slate")
    text = text.replace("    template: hero\n", "    template: hero\n    candidates: 3\n", 1)
    manifest.write_text(text, "utf-8")
    brandkit(root, "build")
    brandkit(root, "approve", "hero", "story")
    text = text.replace(*kettle)
    manifest.write_text(text, "utf-8")
    brandkit(root, "build")  # held: pays for the new candidates, the approved stay live
    brandkit(root, "pick", HERO, str(CHOSEN))
    text = text.replace("a line of gentle waves", "<b>waves</b> & 'gulls'")
    text += '\n  coaster:\n    prompt: "a round coaster, <script>alert(1)</script>"\n'
    text += '    sizes: ["1:1"]\n'
    manifest.write_text(text, "utf-8")
    out = brandkit(root, "review")
    page = root / "dist" / "review.html"
    assert out.strip().endswith("review.html") and page.is_file()
    return page


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_review_page_loads_offline_with_every_image_and_no_sideways_scroll(
    browser: Browser, review_page: Path, width: int
) -> None:
    page, report = browser.open(review_page, width=width)
    try:
        assert all_images_loaded(page) == [], "every candidate and previous image resolves"
        assert report.console_errors == []
        assert report.failed == [] and report.remote == [], "works offline, no external assets"
        assert horizontal_overflow(page) == 0, f"no horizontal overflow at {width} px"
        missing = page.evaluate("[...document.images].filter(i => !i.alt.trim()).length")
        assert missing == 0, "every image has alt text"
        page.screenshot(path=str(artefact_dir() / f"review-{width}.png"), full_page=True)
        page.screenshot(path=str(artefact_dir() / f"review-{width}-top.png"))  # README's
    finally:
        page.context.close()


def test_review_page_lists_held_then_new_then_changed_then_current(
    browser: Browser, review_page: Path
) -> None:
    page, _ = browser.open(review_page)
    try:
        sections = page.evaluate(
            "[...document.querySelectorAll('h2')].map(h => h.textContent.split(/[:(]/)[0].trim())"
        )
        assert sections == ["Held", "New", "Changed", "Current"]
        first = page.evaluate(
            "[...document.querySelectorAll('article .sel')].slice(0, 4).map(s => s.textContent)"
        )
        assert first[0].startswith("hero@") and "coaster@1:1" in first
        assert page.evaluate("document.title").startswith("Review: Tidewater Tea Co.")
        assert page.evaluate("!!document.querySelector('script:not(:last-of-type)')") is False
        assert "<script>alert(1)</script>" in page.evaluate(
            "[...document.querySelectorAll('.prompt')].map(p => p.textContent).join('\\n')"
        ), "the prompt shown as the text it is, not run"
    finally:
        page.context.close()


def test_candidates_sit_side_by_side_at_their_true_aspect_ratio_with_marks_in_words(
    browser: Browser, review_page: Path
) -> None:
    page, _ = browser.open(review_page)
    try:
        all_images_loaded(page)
        card = page.locator("article", has=page.locator(f".sel:text-is('{HERO}')"))
        figures = card.locator("figure")
        n = figures.count()
        assert n == 4, "three candidates and the approved image, still live"
        captions = [figures.nth(i).locator("figcaption").inner_text() for i in range(3)]
        assert [("chosen" in c) for c in captions] == [i + 1 == CHOSEN for i in range(3)]
        assert len({round(figures.nth(i).bounding_box()["y"]) for i in range(n)}) == 1, (
            "side by side on one row at 1400 px"
        )
        approved = page.locator("article", has=page.locator(f".sel:text-is('{APPROVED}')"))
        assert "✓ chosen" in approved.inner_text() and "★ approved" in approved.inner_text()
        assert "chosen and approved" in approved.inner_text(), "no approve command: it is"
        held = page.locator("article", has=page.locator(f".sel:text-is('{HERO}')"))
        assert held.locator("img").count() >= 2, "new candidates beside the approved image"
        assert "approved, published now (v0002)" in held.inner_text()
        shown = page.evaluate(
            "[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, "
            "i.naturalHeight, i.getBoundingClientRect().width, i.getBoundingClientRect().height])"
        )
        for src, nw, nh, w, h in shown:
            assert abs(w / h - nw / nh) <= 0.02 * nw / nh + 2 / h, f"{src}: {w}x{h} of {nw}x{nh}"
    finally:
        page.context.close()


def test_copy_button_puts_the_exact_pick_command_on_the_clipboard(
    browser: Browser, review_page: Path
) -> None:
    page, report = browser.open(review_page)
    try:
        button = page.locator(f'button[data-copy="{PICK}"]')
        assert button.count() == 1
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == PICK
        approve = page.locator("button[data-copy='brandkit approve hero@16:9']")
        approve.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=approve.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == "brandkit approve hero@16:9"
        assert report.console_errors == []
    finally:
        page.context.close()


def test_with_the_clipboard_denied_the_command_is_selected_in_a_visible_field(
    browser: Browser, review_page: Path
) -> None:
    page, report = browser.open(review_page, clipboard=False)
    try:
        button = page.locator(f'button[data-copy="{PICK}"]')
        button.click()
        page.wait_for_function(  # the page gives a hanging clipboard 2 s; this waits 10
            "b => b.textContent.includes('No clipboard access')",
            arg=button.element_handle(),
            timeout=10_000,
        )
        field = page.locator("#" + button.get_attribute("aria-controls"))
        assert field.is_visible() and field.input_value() == PICK
        selected = field.evaluate("f => f.value.slice(f.selectionStart, f.selectionEnd)")
        assert selected == PICK, "selected, ready for Ctrl+C"
        assert report.console_errors == []
    finally:
        page.context.close()


def test_tab_reaches_every_copy_button_with_a_visible_focus(
    browser: Browser, review_page: Path
) -> None:
    page, _ = browser.open(review_page)
    try:
        buttons = page.evaluate("document.querySelectorAll('button').length")
        stops = page.evaluate("document.querySelectorAll('button, input, a[href]').length")
        reached: set[str] = set()
        for _ in range(stops + 2):  # bounded: one press per focusable element, and spare
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "(() => { const e = document.activeElement; return e.tagName === 'BUTTON' ? "
                "[e.dataset.copy, getComputedStyle(e).outlineStyle] : null })()"
            )
            if focused:
                assert focused[1] != "none", f"{focused[0]}: focus is visible"
                reached.add(focused[0])
        assert len(reached) == buttons > 10, "the keyboard reaches every copy button"
        assert all(re.fullmatch(r"brandkit (pick \S+ \d|approve \S+)", c) for c in reached)
    finally:
        page.context.close()

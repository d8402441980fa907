"""The contact sheet (index.html): icons and SVGs at real size beside a magnified view,
text outputs listed as links, not as images."""

from __future__ import annotations

import re

from pipeline.contact_sheet import render_contact_sheet
from pipeline.load import load_yaml
from pipeline.manifest import validate

MANIFEST = validate(
    load_yaml(
        "kit: {name: acme}\nbrand: {name: Acme}\n"
        "assets:\n  logo: {prompt: a mark, preset: favicon}\n",
        "brandkit.yaml",
    )
)


def sheet(*outputs: tuple[str, int, int, str]) -> str:
    index = {
        "kit": "acme",
        "version": "v0001",
        "created": "2026-11-29T00:00:00Z",
        "outputs": [
            {"path": p, "width": w, "height": h, "format": f, "asset": "logo"}
            for p, w, h, f in outputs
        ],
    }
    return render_contact_sheet(index, MANIFEST)


def images(html: str, path: str) -> list[str]:
    return re.findall(rf"<img src='{re.escape(path)}'[^>]*>", html)


def zooms(html: str, path: str) -> list[str]:
    return re.findall(rf"<span class=zoom[^>]*url\(\"{re.escape(path)}\"\)[^>]*>", html)


def test_an_icon_is_shown_at_its_real_size_beside_a_magnified_unsmoothed_view() -> None:
    html = sheet(("logo/favicon.ico", 48, 48, "ico"))
    (real,) = images(html, "logo/favicon.ico")  # one image per output: the zoom is a background
    (big,) = zooms(html, "logo/favicon.ico")
    assert "width=48 height=48" in real and "alt='logo, 48×48 ico'" in real
    assert "width:144px;aspect-ratio:144/144" in big and "pixelated" in big  # whole pixels: 3x


def test_an_svg_is_shown_at_favicon_size_and_large_keeping_its_aspect() -> None:
    html = sheet(("logo/logo-16x9.svg", 1344, 768, "svg"))
    (real,) = images(html, "logo/logo-16x9.svg")
    (big,) = zooms(html, "logo/logo-16x9.svg")
    assert "width=32 height=18" in real
    assert "width:160px;aspect-ratio:160/91" in big and "pixelated" not in big


def test_a_path_with_a_quote_cannot_end_the_zoom_s_css_string() -> None:
    html = sheet(("logo/it's.png", 32, 32, "png"))
    assert """url("logo/it%27s.png")""" in html


def test_a_large_raster_is_one_image_as_before() -> None:
    html = sheet(("logo/logo-16x9.png", 1344, 768, "png"))
    (img,) = images(html, "logo/logo-16x9.png")
    assert "width=" not in img and not zooms(html, "logo/logo-16x9.png")


def test_text_outputs_are_listed_as_links_not_images() -> None:
    html = sheet(("logo/site.webmanifest", 1, 1, "webmanifest"), ("logo/head.html", 1, 1, "html"))
    assert "<img" not in html and "class=zoom" not in html
    assert (
        "<li><a href='logo/site.webmanifest'>logo/site.webmanifest</a> (webmanifest)</li>" in html
    )
    assert "<a href='logo/head.html'>" in html


def test_an_icon_over_half_the_magnified_size_is_shown_once_at_real_size() -> None:
    html = sheet(("logo/icon-192.png", 192, 192, "png"))
    (real,) = images(html, "logo/icon-192.png")
    assert "width=192 height=192" in real and not zooms(html, "logo/icon-192.png")

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


def test_an_icon_is_shown_at_its_real_size_beside_a_magnified_unsmoothed_view() -> None:
    real, big = images(sheet(("logo/favicon.ico", 48, 48, "ico")), "logo/favicon.ico")
    assert "width=48 height=48" in real
    assert "width=144 height=144" in big and "pixelated" in big  # whole pixels: 3x


def test_an_svg_is_shown_at_favicon_size_and_large_keeping_its_aspect() -> None:
    real, big = images(sheet(("logo/logo-16x9.svg", 1344, 768, "svg")), "logo/logo-16x9.svg")
    assert "width=32 height=18" in real
    assert "width=160 height=91" in big and "pixelated" not in big


def test_a_large_raster_is_one_image_as_before() -> None:
    (img,) = images(sheet(("logo/logo-16x9.png", 1344, 768, "png")), "logo/logo-16x9.png")
    assert "width=" not in img


def test_text_outputs_are_listed_as_links_not_images() -> None:
    html = sheet(("logo/site.webmanifest", 1, 1, "webmanifest"), ("logo/head.html", 1, 1, "html"))
    assert "<img" not in html
    assert (
        "<li><a href='logo/site.webmanifest'>logo/site.webmanifest</a> (webmanifest)</li>" in html
    )
    assert "<a href='logo/head.html'>" in html

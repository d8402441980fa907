"""The contact sheet without a browser: the order it lists outputs in, the badge on what
changed since the version before, the model and cost under each image, and that a
previous index it cannot read costs a badge, never a publish."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.contact_sheet import natural, render_contact_sheet
from pipeline.load import load_yaml
from pipeline.manifest import validate

MANIFEST = validate(
    load_yaml(
        "kit: {name: acme}\nbrand: {name: Acme}\n"
        "assets:\n"
        "  zeta: {prompt: z, sizes: ['1:1']}\n"
        "  alpha: {prompt: a, sizes: ['1:1']}\n",
        "brandkit.yaml",
    )
)


def output(path: str, sha: str = "a" * 64, **extra: object) -> dict:
    w, h = (int(x) for x in re.findall(r"(\d+)x(\d+)", path)[0])
    asset = path.split("/")[0]
    return {"path": path, "asset": asset, "sha256": sha, "width": w, "height": h,
            "format": "png", "provider": "local", "model": "recraft-v4", "cost_usd": 0.0,
            **extra}  # fmt: skip


def index(*outputs: dict, version: str = "v0002") -> dict:
    return {"kit": "acme", "version": version, "created": "2026-11-29T00:00:00Z",
            "outputs": list(outputs)}  # fmt: skip


def links(html: str) -> list[str]:
    return re.findall(r"<a href='([^']+)'", html)


def test_assets_follow_the_manifest_and_sizes_sort_as_numbers() -> None:
    html = render_contact_sheet(
        index(
            output("alpha/icon-1024x1024.png"),
            output("alpha/icon-16x16.png"),
            output("alpha/icon-180x180.png"),
            output("zeta/z-32x32.png"),
        ),
        MANIFEST,
    )
    assert re.findall(r"<h2>([^<]+)</h2>", html) == ["zeta", "alpha"], "manifest order"
    assert links(html) == [
        "zeta/z-32x32.png",
        "alpha/icon-16x16.png",
        "alpha/icon-180x180.png",
        "alpha/icon-1024x1024.png",
    ]
    assert natural("a-9x9") < natural("a-10x10") < natural("b-1x1")


def test_a_badge_marks_what_is_new_or_changed_since_the_version_before_and_nothing_else() -> None:
    before = index(
        output("alpha/same-16x16.png"),
        output("alpha/edit-16x16.png", sha="b" * 64),
        version="v0001",
    )
    html = render_contact_sheet(
        index(
            output("alpha/same-16x16.png"),
            output("alpha/edit-16x16.png"),
            output("alpha/added-16x16.png"),
        ),
        MANIFEST,
        before,
    )
    badges = re.findall(r"<span class='badge \w+'>([^<]+)</span><br><div class=views>"
                        r"<img src='([^']+)'", html)  # fmt: skip
    assert sorted(badges) == [
        ("changed since v0001", "alpha/edit-16x16.png"),
        ("new since v0001", "alpha/added-16x16.png"),
    ]
    first = render_contact_sheet(index(output("alpha/a-16x16.png")), MANIFEST)
    assert "class='badge" not in first, "a first version has nothing to compare with"


def test_a_previous_index_that_cannot_be_read_means_no_badges_not_a_failed_publish(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.json").write_text("{not json")
    html = render_contact_sheet(index(output("alpha/a-16x16.png")), MANIFEST, tmp_path)
    assert "alpha/a-16x16.png" in html and "class='badge" not in html
    missing = render_contact_sheet(index(output("alpha/a-16x16.png")), MANIFEST, tmp_path / "x")
    assert "class='badge" not in missing


def test_each_image_names_its_model_and_the_cost_of_its_generation() -> None:
    html = render_contact_sheet(
        index(
            output("alpha/free-16x16.png"),
            output("alpha/paid-16x16.png", cost_usd=0.04),
            output("alpha/units-16x16.png", cost_usd=None, credits=12.0),
            output("alpha/unknown-16x16.png", cost_usd=None),
        ),
        MANIFEST,
    )
    costs = re.findall(r"local/recraft-v4 · <span title='[^']+'>([^<]+)</span>", html)
    assert costs == ["free", "$0.040", "12 credits", "cost unknown"]


def test_no_mid_word_breaks_only_long_paths_may_wrap() -> None:
    html = render_contact_sheet(index(output("alpha/a-16x16.png")), MANIFEST)
    assert "break-all" not in html and "figcaption a{overflow-wrap:anywhere}" in html


def test_an_svg_is_drawn_at_favicon_size_whatever_size_the_drawing_declares() -> None:
    svg = dict(output("alpha/logo-1024x1024.png"), path="alpha/logo.svg", format="svg")
    html = render_contact_sheet(index(svg), MANIFEST)
    (img,) = re.findall(r"<img src='alpha/logo.svg'[^>]*>", html)
    assert "style='width:32px;height:32px;" in img, "CSS size, not the SVG's own 1024"

"""preset: favicon and preset: social, sugar over ordinary outputs (DESIGN "Vector assets,
icon sets and fit"): each file's name, size, fit and place; the text outputs; the plan."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from pipeline.expand import expand
from pipeline.jobs import COVER, Fit, OutputTarget
from pipeline.load import load_yaml
from pipeline.manifest import validate
from pipeline.models import MODELS
from pipeline.plan import cache_key_for
from pipeline.presets import head_html
from tests.conftest import Run, write_manifest
from tests.test_fit_manifest import HEAD, jobs_of, needs_derive

FAVICON = "assets:\n  logo: {prompt: a mark, preset: favicon, background: paper}\n"
VECTOR = FAVICON.replace("preset:", "model: recraft-v4-vector, preset:")
RASTER_FILES = {  # path: (width, height, format)
    "logo/favicon.ico": (48, 48, "ico"),
    "logo/apple-touch-icon.png": (180, 180, "png"),
    "logo/icon-192.png": (192, 192, "png"),
    "logo/icon-512.png": (512, 512, "png"),
    "logo/icon-maskable-512.png": (512, 512, "png"),
    "logo/site.webmanifest": (1, 1, "webmanifest"),
    "logo/head.html": (1, 1, "html"),
}
PAPER = (0xF0, 0xEE, 0xE8)
needs_vector = pytest.mark.skipif(
    "recraft-v4-vector" not in MODELS, reason="vector model aliases land with vecmodels"
)


def targets(text: str) -> dict[str, OutputTarget]:
    return {o.path: o for j in jobs_of(text) for o in j.outputs}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag == "link"
        self.links.append(dict(attrs))


def size_of(image_file: Path) -> tuple[int, int]:
    with Image.open(image_file) as image:
        return image.size


def links(html: str) -> list[dict[str, str | None]]:
    parser = Links()
    parser.feed(html)
    return parser.links


# --- favicon --------------------------------------------------------------------------------


def test_favicon_on_a_raster_model_writes_every_file_but_the_svg_in_the_asset_folder() -> None:
    found = targets(FAVICON)
    assert {p: (o.width, o.height, o.format) for p, o in found.items()} == RASTER_FILES
    assert found["logo/favicon.ico"].ico_sizes == (16, 32, 48)


def test_favicon_files_are_cut_from_one_1x1_master() -> None:
    (job,) = jobs_of(FAVICON)
    assert (job.spec.width, job.spec.height) == (1024, 1024)


@needs_vector
def test_favicon_on_a_vector_model_adds_favicon_svg_the_master_itself() -> None:
    found = targets(VECTOR)
    svg = found.pop("logo/favicon.svg")
    assert (svg.width, svg.height, svg.format, svg.fit) == (1024, 1024, "svg", COVER)
    assert {p: (o.width, o.height, o.format) for p, o in found.items()} == RASTER_FILES


def test_apple_touch_and_maskable_icons_are_contained_on_an_opaque_pad() -> None:
    found = targets(FAVICON)
    assert found["logo/apple-touch-icon.png"].fit == Fit("contain", PAPER, None)
    assert found["logo/icon-maskable-512.png"].fit == Fit("contain", PAPER, 0.8)
    assert found["logo/icon-512.png"].fit == COVER  # the asset's own fit
    padded = targets(FAVICON.replace("background: paper", "pad: ink"))
    assert padded["logo/icon-maskable-512.png"].fit == Fit("contain", (0x11, 0x22, 0x33), 0.8)
    bare = targets(FAVICON.replace(", background: paper", ""))  # never transparent
    assert bare["logo/icon-maskable-512.png"].fit == Fit("contain", (255, 255, 255), 0.8)


def test_site_webmanifest_is_json_naming_the_icons_and_the_brand() -> None:
    text = targets(FAVICON)["logo/site.webmanifest"].text
    assert text is not None
    manifest = json.loads(text)
    assert manifest["name"] == "Acme"
    assert manifest["theme_color"] == manifest["background_color"] == "#F0EEE8"
    assert manifest["icons"] == [
        {"src": "icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]


def test_head_html_links_the_files_by_relative_path_and_the_svg_only_for_vectors() -> None:
    raster = targets(FAVICON)["logo/head.html"].text
    assert raster is not None
    assert links(raster) == [
        {"rel": "icon", "href": "favicon.ico", "sizes": "16x16 32x32 48x48"},
        {"rel": "apple-touch-icon", "href": "apple-touch-icon.png"},
        {"rel": "manifest", "href": "site.webmanifest"},
    ]
    vector = head_html(vector=True)  # what a vector model's favicon set links
    assert {"rel": "icon", "href": "favicon.svg", "type": "image/svg+xml"} in links(vector)


def test_a_new_brand_name_changes_the_key_of_site_webmanifest_only() -> None:
    def keys(brand: str) -> dict[str, str]:
        text = HEAD.replace("name: Acme", f"name: {brand}") + FAVICON
        jobs = expand(validate(load_yaml(text, "brandkit.yaml")))
        return {o.path: cache_key_for(j.key, o) for j in jobs for o in j.outputs}

    before, after = keys("Acme"), keys("Other")
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {"logo/site.webmanifest"}  # head.html does not name the brand


def test_a_preset_with_sizes_adds_the_asset_s_own_outputs() -> None:
    found = targets(FAVICON.replace("preset:", 'sizes: ["1:1", "64x64"], preset:'))
    assert set(found) == {"logo/logo-1x1.png", "logo/logo-64x64.png", *RASTER_FILES}


def test_out_names_the_asset_s_own_outputs_never_the_preset_files() -> None:
    found = targets(
        FAVICON.replace(
            "preset:", 'sizes: ["64x64"], out: "brand/{{ size }}.{{ format }}", preset:'
        )
    )
    assert set(found) == {"brand/64x64.png", *RASTER_FILES}


def test_a_preset_in_a_matrix_writes_one_folder_per_combination() -> None:
    found = targets(
        "assets:\n  logo: {prompt: '{{ c }} mark', matrix: {c: [red, blue]}, preset: favicon}\n"
    )
    assert "logo/logo-red/favicon.ico" in found and "logo/logo-blue/head.html" in found
    assert len(found) == 2 * len(RASTER_FILES)


# --- social ---------------------------------------------------------------------------------


def test_social_writes_the_four_card_sizes_each_from_its_nearest_native_master() -> None:
    jobs = jobs_of("assets:\n  card: {prompt: a card, preset: social}\n")
    made = {
        o.path: (o.width, o.height, j.spec.width, j.spec.height) for j in jobs for o in j.outputs
    }
    assert made == {
        "card/og-1200x630.png": (1200, 630, 1536, 768),
        "card/x-1600x900.png": (1600, 900, 1344, 768),
        "card/square-1080x1080.png": (1080, 1080, 1024, 1024),
        "card/story-1080x1920.png": (1080, 1920, 768, 1344),
    }


# --- the plan shows what a preset expanded to ------------------------------------------------


def test_plan_json_lists_the_files_a_preset_expanded_to(run: Run, tmp_path: Path) -> None:
    p = write_manifest(tmp_path / "p", HEAD + FAVICON).parent
    plan = run.json(p, "plan")
    listed = {
        o["path"]: (o["width"], o["height"], o["format"])
        for j in plan["jobs"]
        for o in j["outputs"]
    }
    assert listed == RASTER_FILES
    assert plan["summary"]["generate"] == 1
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(plan, schema)  # text outputs too: 1x1, their format a word


# --- end to end, with the local provider -----------------------------------------------------


def test_social_preset_builds_every_card_at_its_size(run: Run, tmp_path: Path) -> None:
    p = write_manifest(tmp_path / "p", HEAD + "assets:\n  card: {prompt: a card, preset: social}\n")
    code, _, err = run(p.parent, "build")  # assert_published_tree checks every file
    assert code == 0, err
    latest = p.parent / "dist" / "latest" / "card"
    sizes = {f.name: size_of(f) for f in latest.iterdir()}
    assert sizes == {
        "og-1200x630.png": (1200, 630),
        "x-1600x900.png": (1600, 900),
        "square-1080x1080.png": (1080, 1080),
        "story-1080x1920.png": (1080, 1920),
    }


@needs_derive
def test_favicon_preset_builds_every_file_with_an_opaque_maskable_icon(
    run: Run, tmp_path: Path
) -> None:
    p = write_manifest(tmp_path / "p", HEAD + FAVICON).parent
    code, _, err = run(p, "build")  # every ico frame decodes, the webmanifest is JSON
    assert code == 0, err
    latest = p / "dist" / "latest" / "logo"
    assert {f"logo/{f.name}" for f in latest.iterdir()} == set(RASTER_FILES)
    with Image.open(latest / "icon-maskable-512.png") as maskable:
        assert maskable.size == (512, 512)
        alpha = maskable.convert("RGBA").getchannel("A")
        assert alpha.getextrema() == (255, 255)  # opaque everywhere
        assert maskable.convert("RGB").getpixel((2, 2)) == PAPER  # outside the safe zone
    with Image.open(latest / "favicon.ico") as ico:
        assert sorted(ico.info["sizes"]) == [(16, 16), (32, 32), (48, 48)]
    manifest = json.loads((latest / "site.webmanifest").read_text("utf-8"))
    assert all((latest / icon["src"]).is_file() for icon in manifest["icons"])
    html = (latest / "head.html").read_text("utf-8")
    assert all((latest / str(link["href"])).is_file() for link in links(html))
    # a new brand name: only site.webmanifest is written again, nothing is generated
    (p / "brandkit.yaml").write_text(
        (p / "brandkit.yaml").read_text("utf-8").replace("name: Acme", "name: Other"), "utf-8"
    )
    plan = run.json(p, "plan")
    cut = {o["path"] for j in plan["jobs"] for o in j["outputs"] if o["source"] == "derive"}
    assert (plan["summary"]["generate"], cut) == (0, {"logo/site.webmanifest"})


@needs_vector
@needs_derive
def test_favicon_preset_on_a_vector_model_publishes_favicon_svg(run: Run, tmp_path: Path) -> None:
    p = write_manifest(tmp_path / "p", HEAD + VECTOR).parent
    code, _, err = run(p, "build")  # assert_published_tree: the svg parses, with an svg root
    assert code == 0, err
    latest = p / "dist" / "latest" / "logo"
    assert {f"logo/{f.name}" for f in latest.iterdir()} == {*RASTER_FILES, "logo/favicon.svg"}
    assert 'href="favicon.svg"' in (latest / "head.html").read_text("utf-8")


def test_the_readme_example_expands_as_it_says() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Fit and presets", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    head = "kit: {name: northwind}\nbrand: {name: Northwind Coffee, colors: " + (
        "{espresso: '#3B2417', crema: '#E9DFCD'}}\n"
    )
    found = {
        o.path: o for j in expand(validate(load_yaml(head + example, "b.yaml"))) for o in j.outputs
    }
    assert {"logo/favicon.ico", "logo/site.webmanifest", "card/og-1200x630.png"} <= set(found)
    assert found["card/og-1200x630.png"].fit == Fit("contain", (0x3B, 0x24, 0x17), None)
    assert found["badge/badge.ico"].ico_sizes == (16, 32, 48)
    assert found["badge/badge-512x512.png"].fit == Fit("contain", None, 0.8)

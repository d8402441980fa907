"""fit, pad, safe_zone, the svg format and one ico per asset: from the manifest to
OutputTargets (DESIGN "Vector assets, icon sets and fit"). The pixels are derive's."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import ManifestError
from pipeline.expand import expand
from pipeline.jobs import COVER, Fit, Job
from pipeline.load import load_yaml
from pipeline.manifest import validate
from pipeline.plan import cache_key_for
from tests.conftest import Run, write_manifest

HEAD = """\
kit: {name: acme}
brand: {name: Acme, colors: {ink: "#112233", paper: "#F0EEE8"}}
"""


def jobs_of(text: str) -> list[Job]:
    return expand(validate(load_yaml(HEAD + text, "brandkit.yaml")))


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        jobs_of(text)
    return [str(p) for p in info.value.problems]


def outputs(text: str) -> dict[str, object]:
    return {o.path: o for j in jobs_of(text) for o in j.outputs}


def keys(text: str) -> dict[str, str]:
    return {o.path: cache_key_for(j.key, o) for j in jobs_of(text) for o in j.outputs}


def derive_ready() -> bool:
    """fit: contain and multi-size icos are cut by derive.py (the svg work of issue 14)."""
    from pipeline.derive import derive

    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 10, 10)).save(buffer, "PNG")
    try:
        derive(buffer.getvalue(), 32, 32, "png", fit=Fit("contain", (0, 0, 0), 0.8))
        derive(buffer.getvalue(), 32, 32, "ico", ico_sizes=(16, 32))
    except ValueError:
        return False
    return True


needs_derive = pytest.mark.skipif(
    not derive_ready(), reason="fit: contain and multi-size ico are cut by derive.py (svg work)"
)


# --- schema and validate: every mistake located, with what would be valid -----------------


def test_an_unknown_fit_is_refused_naming_cover_and_contain() -> None:
    assert errors('assets:\n  a: {prompt: x, sizes: ["1:1"], fit: stretch}\n') == [
        "brandkit.yaml:4:39: assets.a.fit: 'stretch' is not valid; use one of: cover, contain"
    ]


def test_safe_zone_outside_0_to_1_is_refused_with_its_range() -> None:
    (msg,) = errors('assets:\n  a: {prompt: x, sizes: ["1:1"], fit: contain, safe_zone: 0}\n')
    assert msg.startswith("brandkit.yaml:4:59: assets.a.safe_zone: safe_zone is the drawing's")
    assert "above 0 and at most 1" in msg


def test_safe_zone_with_cover_is_refused_where_it_was_written() -> None:
    (msg,) = errors('assets:\n  a: {prompt: x, sizes: ["1:1"], safe_zone: 0.8}\n')
    assert msg == (
        "brandkit.yaml:4:45: assets.a.safe_zone: safe_zone applies only with fit: contain "
        "(a has fit: cover): set fit: contain, or remove safe_zone"
    )


def test_safe_zone_in_defaults_with_cover_is_said_once_for_every_asset() -> None:
    problems = errors(
        "defaults: {safe_zone: 0.8}\nassets:\n"
        '  a: {prompt: x, sizes: ["1:1"]}\n  b: {prompt: y, sizes: ["1:1"]}\n'
        '  c: {prompt: z, sizes: ["1:1"], fit: contain}\n'
    )
    assert problems == [
        "brandkit.yaml:3:23: defaults.safe_zone: safe_zone applies only with fit: contain "
        "(a has fit: cover): set fit: contain, or remove safe_zone"
    ]


def test_svg_on_a_raster_model_is_refused_at_its_list_item_naming_valid_formats() -> None:
    (msg,) = errors('assets:\n  a: {prompt: x, sizes: ["1:1"], formats: [png, svg]}\n')
    assert msg.startswith(
        "brandkit.yaml:4:49: assets.a.formats[1]: svg is an output format of vector models "
        "only, and recraft-v4 draws raster images: use a vector model ("
    )
    assert msg.endswith("), or the formats png, jpg, webp, ico")


def test_svg_as_the_default_format_of_a_raster_model_is_refused_in_defaults() -> None:
    (msg,) = errors(
        'defaults: {format: svg}\nassets:\n  a: {prompt: x, sizes: ["1:1"]}\n'
        '  b: {prompt: y, sizes: ["1:1"]}\n'
    )
    assert msg.startswith("brandkit.yaml:3:20: defaults.format: svg is an output format")


def test_a_pad_colour_not_in_brand_colors_names_the_defined_ones() -> None:
    assert errors('assets:\n  a: {prompt: x, sizes: ["1:1"], fit: contain, pad: inq}\n') == [
        "brandkit.yaml:4:53: assets.a.pad: 'inq' is not a colour defined in brand.colors "
        '(ink, paper); use a defined name or a literal like "#3B2417"'
    ]


def test_sizes_are_required_without_a_preset_and_the_message_says_so() -> None:
    (msg,) = errors("assets:\n  a: {prompt: x}\n")
    assert msg.startswith("brandkit.yaml:4:6: assets.a: 'sizes' is required")
    assert "unless the asset has a preset" in msg


# --- Fit on each output ---------------------------------------------------------------------


def test_cover_outputs_have_the_plain_fit_whatever_pad_says() -> None:
    found = outputs('assets:\n  a: {prompt: x, sizes: ["1200x630"], pad: ink}\n')
    assert found["a/a-1200x630.png"].fit is COVER  # type: ignore[attr-defined]


def test_contain_flows_into_each_output_with_pad_resolved_and_jpg_padded_by_background() -> None:
    found = outputs(
        "defaults: {fit: contain, background: paper}\nassets:\n"
        '  a: {prompt: x, sizes: ["1200x630"], formats: [png, jpg, webp]}\n'
        '  b: {prompt: y, sizes: ["1200x630"], pad: "#ff0000", safe_zone: 0.5}\n'
    )
    fits = {path: o.fit for path, o in found.items()}  # type: ignore[attr-defined]
    assert fits == {
        "a/a-1200x630.png": Fit("contain", None, None),  # transparent
        "a/a-1200x630.webp": Fit("contain", None, None),
        "a/a-1200x630.jpg": Fit("contain", (0xF0, 0xEE, 0xE8), None),  # the background
        "b/b-1200x630.png": Fit("contain", (255, 0, 0), 0.5),
    }


# --- keys: plain outputs keep the keys they had; a fit is part of an output's key ----------

MAIN_KEYS = {  # computed by main at 8e0f1d9, before fit and presets existed
    "a/a-1x1.png": "081107691c000c15e160266dabd151be9e1c2ea7bc2d6c990b1beb2022ee6b7e",
    "a/a-1200x630.jpg": "fecb3cc4de4f7e9c3c51d2c34e91367318232d2759da88b49e44a1b5d9da8878",
    "a/a-32x32.png": "690781fab45acfa50119cf8868d813d987d6ca5163649a192144cd84232a6ec6",
}
PLAIN = (
    'assets:\n  a: {prompt: a mark, sizes: ["1:1", "1200x630", "32x32"], '
    "formats: [png, jpg, ico]}\n"
)


def test_keys_of_plain_outputs_are_those_main_published() -> None:
    found = keys(PLAIN)
    assert {p: found[p] for p in MAIN_KEYS} == MAIN_KEYS
    # a one-size ico moved to a/a.ico but is the same bytes: main's a/a-32x32.ico key
    assert found["a/a.ico"] == "03bd0a922ed96b2d8dc4f51cd2642683111f96b8bf828219f2dda5c4369aac67"


def test_pad_with_cover_changes_no_key_and_contain_changes_every_output_key_not_the_master() -> (
    None
):
    padded = keys(PLAIN.replace("formats:", "pad: ink, formats:"))
    assert {p: padded[p] for p in MAIN_KEYS} == MAIN_KEYS
    plain_jobs = {j.key for j in jobs_of(PLAIN)}
    contained = PLAIN.replace("formats:", "fit: contain, formats:")
    assert {j.key for j in jobs_of(contained)} == plain_jobs  # no new image is paid for
    assert not set(keys(contained).values()) & set(keys(PLAIN).values())


# --- ico: one file per asset and combination -----------------------------------------------


def test_ico_is_one_file_holding_every_square_size_from_16_to_256_cut_from_the_1x1_master() -> None:
    jobs = jobs_of(
        'assets:\n  a: {prompt: x, sizes: ["1:1", "512x512", "48x48", "16x16", "1200x630", '
        '"256x256", "32x32"], formats: [png, ico]}\n'
    )
    icos = [(j, o) for j in jobs for o in j.outputs if o.format == "ico"]
    assert len(icos) == 1
    job, ico = icos[0]
    assert (ico.path, ico.width, ico.height) == ("a/a.ico", 256, 256)
    assert ico.ico_sizes == (16, 32, 48, 256)  # sorted smallest first; 512 is over 256
    assert (job.spec.width, job.spec.height) == (1024, 1024)  # the 1:1 native master


def test_ico_is_one_file_per_matrix_combination() -> None:
    found = outputs(
        "assets:\n  a:\n    prompt: '{{ c }}'\n    matrix: {c: [red, blue]}\n"
        '    sizes: ["16x16", "32x32"]\n    formats: [ico]\n'
    )
    assert sorted(found) == ["a/a-blue.ico", "a/a-red.ico"]
    assert {o.ico_sizes for o in found.values()} == {(16, 32)}  # type: ignore[attr-defined]


def test_ico_with_an_out_template_is_named_by_its_largest_size() -> None:
    found = outputs(
        'assets:\n  a: {prompt: x, sizes: ["16x16", "48x48"], formats: [ico], '
        'out: "icons/{{ asset }}-{{ size }}.{{ format }}"}\n'
    )
    assert list(found) == ["icons/a-48x48.ico"]


def test_an_asset_with_ico_but_no_square_size_from_16_to_256_is_refused() -> None:
    (msg,) = errors('assets:\n  a: {prompt: x, sizes: ["1:1", "300x300"], formats: [ico]}\n')
    assert "assets.a.formats: ico needs at least one square exact size" in msg


# --- end to end, with the local provider ----------------------------------------------------


@needs_derive
def test_contain_with_pad_builds_a_padded_output_and_a_multi_size_ico(
    run: Run, tmp_path: Path
) -> None:
    p = write_manifest(
        tmp_path / "p",
        HEAD + "assets:\n  a: {prompt: a mark, fit: contain, pad: ink, "
        'sizes: ["1200x400", "16x16", "32x32", "48x48"], formats: [png, ico]}\n',
    ).parent
    code, _, err = run(p, "build")  # assert_published_tree: every ico frame decodes
    assert code == 0, err
    latest = p / "dist" / "latest"
    with Image.open(latest / "a" / "a-1200x400.png") as image:
        assert image.convert("RGB").getpixel((0, 200)) == (0x11, 0x22, 0x33)  # padded sides
    with Image.open(latest / "a" / "a.ico") as ico:
        assert sorted(ico.info["sizes"]) == [(16, 16), (32, 32), (48, 48)]
    shutil.rmtree(p / ".brandkit")  # the cache lost: dist/latest is trusted, nothing paid
    plan = run.json(p, "plan")
    assert {o["source"] for j in plan["jobs"] for o in j["outputs"]} == {"dist"}


def test_a_new_fit_recuts_published_outputs_and_pays_nothing(run: Run, tmp_path: Path) -> None:
    """The lock's key names the master: an output whose fit changed is cut again, never
    taken from dist/latest, where the old fit's bytes are."""
    manifest = write_manifest(
        tmp_path / "p", HEAD + 'assets:\n  a: {prompt: a mark, sizes: ["1200x400", "64x64"]}\n'
    )
    assert run(manifest.parent, "build")[0] == 0
    text = manifest.read_text("utf-8")
    manifest.write_text(text.replace("sizes:", "fit: contain, pad: ink, sizes:"), "utf-8")
    plan = run.json(manifest.parent, "plan")
    sources = {o["path"]: o["source"] for j in plan["jobs"] for o in j["outputs"]}
    assert sources == {"a/a-1200x400.png": "derive", "a/a-64x64.png": "derive"}
    assert plan["summary"]["generate"] == 0
    manifest.write_text(text, "utf-8")  # back to cover: the published files are still it
    plan = run.json(manifest.parent, "plan")
    assert {o["source"] for j in plan["jobs"] for o in j["outputs"]} == {"published"}


def test_svg_output_follows_the_providers_rule_for_vector_ids_not_the_alias_spelling() -> None:
    """PixelDojo's raw id `recraft-v4-pro-svg` is a vector model (models.is_vector, the
    rule the providers use): its svg output is valid; a raw raster id's is refused."""
    vector = outputs(
        "defaults: {provider: pixeldojo, model: recraft-v4-pro-svg}\n"
        "assets:\n  logo: {prompt: a logo, sizes: ['1:1'], formats: [svg, png]}\n"
    )
    assert sorted(vector) == ["logo/logo-1x1.png", "logo/logo-1x1.svg"]
    problems = errors(
        "defaults: {provider: recraft, model: recraftv4}\n"
        "assets:\n  logo: {prompt: a logo, sizes: ['1:1'], formats: [svg, png]}\n"
    )
    assert any("svg" in p for p in problems), problems

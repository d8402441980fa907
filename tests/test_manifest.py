"""validate: every problem at once, each with file:line:col and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ManifestError
from pipeline.load import load_yaml
from pipeline.manifest import parse_color, schema, validate
from pipeline.providers import PROVIDERS

GOOD = """\
kit: {name: acme}
brand:
  name: Acme
  colors: {ink: "#123", paper: [250, 250, 245]}
defaults: {palette: [ink, paper, "#FF0000"], background: paper}
templates: {t: "{{ x }} for {{ brand.name }}"}
assets:
  a: {template: t, vars: {x: hi}, sizes: ["1:1"]}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        validate(load_yaml(text, "brandkit.yaml"))
    return [str(p) for p in info.value.problems]


def test_valid_manifest_resolves_colours_and_defaults() -> None:
    m = validate(load_yaml(GOOD, "brandkit.yaml"))
    (asset,) = m.assets
    assert asset.settings.palette == ((0x11, 0x22, 0x33), (250, 250, 245), (255, 0, 0))
    assert asset.settings.background == (250, 250, 245)
    assert asset.settings.provider == "local"
    assert asset.source == "{{ x }} for {{ brand.name }}"
    assert asset.formats == ("png",)


def test_three_mistakes_reported_together_sorted_with_fields() -> None:
    text = (
        GOOD.replace("kit: {name: acme}", "kit: {name: Acme Corp}").replace(
            'sizes: ["1:1"]}', 'sizes: ["1:1", "huge"], sizez: []}'
        )
        + "extra: 1\n"
    )
    assert errors(text) == [
        "brandkit.yaml:1:13: kit.name: the kit name is lowercase letters, digits and '-', "
        "starting with a letter or digit",
        'brandkit.yaml:8:50: assets.a.sizes[1]: a size is an aspect ratio "W:H" (generated '
        'at the model\'s native size) or an exact size "WxH" in pixels, e.g. "16:9" or '
        '"1200x630"',
        "brandkit.yaml:8:59: assets.a.sizez: unknown key 'sizez' (did you mean 'sizes'?); "
        "valid keys: template, prompt, vars, matrix, sizes, formats, out, preset, provider, "
        "model, format, fit, pad, safe_zone, palette, background, style, substyle, seed, "
        "candidates",
        "brandkit.yaml:9:1: extra: unknown key 'extra'; valid keys: kit, brand, defaults, "
        "providers, templates, assets, cache",
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('"#12"', "a colour is"),
        ("[1, 2]", "a colour is"),
        ("[1, 2, 300]", "a colour is"),
        ('"red"', "a colour is"),
    ],
)
def test_bad_brand_colours(bad: str, message: str) -> None:
    (msg,) = errors(GOOD.replace('ink: "#123"', f"ink: {bad}"))
    assert msg.startswith("brandkit.yaml:4:17: brand.colors.ink: " + message)


def test_undefined_colour_name_is_located() -> None:
    (msg,) = errors(GOOD.replace("[ink, paper,", "[ink, papper,"))
    assert msg.startswith(
        "brandkit.yaml:5:27: defaults.palette[1]: 'papper' is not a colour "
        "defined in brand.colors (ink, paper)"
    )


def test_palette_of_six_is_refused() -> None:
    (msg,) = errors(GOOD.replace('[ink, paper, "#FF0000"]', "[ink, paper, ink, paper, ink, ink]"))
    assert "defaults.palette: at most 5 items allowed, got 6" in msg


def test_template_and_prompt_are_exclusive() -> None:
    (msg,) = errors(GOOD.replace("{template: t,", '{template: t, prompt: "x",'))
    assert "assets.a: set exactly one of `template`" in msg


def test_unknown_template_lists_known_ones() -> None:
    (msg,) = errors(GOOD.replace("{template: t,", "{template: tt,"))
    assert msg == ("brandkit.yaml:8:17: assets.a.template: no template named 'tt' in templates (t)")


def test_unknown_provider_lists_valid_ones() -> None:
    (msg,) = errors(GOOD.replace("defaults: {", "defaults: {provider: openai, "))
    assert "defaults.provider: 'openai' is not valid; use one of: local, runware" in msg


def test_wrong_type_says_what_was_expected() -> None:
    (msg,) = errors(GOOD.replace("vars: {x: hi}", "vars: [x]"))
    assert "assets.a.vars: expected a mapping, got a list" in msg


def test_unquoted_version_number_is_explained() -> None:
    (msg,) = errors(GOOD.replace("{name: acme}", "{name: acme, version: 2.1}"))
    assert "quote it" in msg


def test_brand_key_typo_gets_a_hint_but_free_keys_are_allowed() -> None:
    text = GOOD.replace("  colors:", "  tagline: hi\n  colours: {}\n  colors:")
    assert errors(text.replace("  colors: {ink", "  extra: {ink")) == [
        "brandkit.yaml:5:3: brand.colours: unknown key 'colours' (did you mean 'colors'?)"
    ]
    validate(load_yaml(text, "b.yaml"))  # with `colors` present, extra keys are data


def test_asset_ids_must_be_lowercase() -> None:
    (msg,) = errors(GOOD.replace("  a: {template", "  Hero: {template"))
    assert msg.startswith("brandkit.yaml:8:3: assets.Hero: the id 'Hero' is not allowed")


def test_colour_forms() -> None:
    assert parse_color("#abc") == (0xAA, 0xBB, 0xCC)
    assert parse_color("#3B2417") == (0x3B, 0x24, 0x17)
    assert parse_color([1, 2, 3]) == (1, 2, 3)


def test_schema_provider_enum_matches_the_registry() -> None:
    enum = schema()["properties"]["defaults"]["properties"]["provider"]["enum"]
    assert set(enum) == set(PROVIDERS)
    assert set(schema()["properties"]["providers"]["propertyNames"]["enum"]) == set(enum)


def test_schema_file_is_the_packaged_one() -> None:
    repo = Path(__file__).resolve().parent.parent / "schemas" / "manifest.schema.json"
    import json

    assert json.loads(repo.read_text()) == schema()

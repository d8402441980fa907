"""Manifest hints, through the real CLI (`validate`, and `plan` for a model): an unquoted
colour (a YAML comment) is said as "quote it" at the `#`; a model name in the alias
namespace that is no alias is a validation error listing the aliases, before anything is
sent; one misspelt key is one error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Run, write_manifest

ASSET = 'assets:\n  a:\n    prompt: "a hero"\n    sizes: ["1:1"]\n'
ALIASES = (
    "recraft-v4, recraft-v4-pro, recraft-v4.1, recraft-v4.1-pro, recraft-v4-vector, "
    "recraft-v4-pro-vector, recraft-v4.1-vector, recraft-v4.1-pro-vector"
)


def validate(run: Run, tmp_path: Path, text: str) -> tuple[int, list[str]]:
    project = write_manifest(tmp_path / "kit", text).parent
    code, out, err = run(project, "validate")
    return code, (err or out).splitlines()


@pytest.mark.parametrize(
    ("text", "where", "colour"),
    [
        ("kit: {name: x}\nbrand:\n  colors:\n    ink: #112233\n" + ASSET,
         "brandkit.yaml:4:10: brand.colors.ink:", "#112233"),
        ("kit: {name: x}\ndefaults:\n  background: #fff\n" + ASSET,
         "brandkit.yaml:3:15: defaults.background:", "#fff"),
        ("kit: {name: x}\n" + ASSET + "    palette:\n      - #E07A5F\n",
         "brandkit.yaml:7:9: assets.a.palette[0]:", "#E07A5F"),
        ("kit: {name: x}\n" + ASSET + "    vars:\n      tint: #0f3b4c   # the sea\n",
         "brandkit.yaml:7:13: assets.a.vars.tint:", "#0f3b4c"),
    ],
)  # fmt: skip
def test_an_unquoted_colour_says_quote_it_once_at_the_hash(
    run: Run, tmp_path: Path, text: str, where: str, colour: str
) -> None:
    code, lines = validate(run, tmp_path, text)
    assert code == 1
    assert lines == [
        f"{where} {colour} is read as a YAML comment here, leaving this empty; "
        f'quote it: "{colour}"',
        "1 error in the manifest",
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("kit: {name: x}\n" + ASSET + '    palette: [#112233, "#000"]\n', "brandkit.yaml:6:15:"),
        ("kit: {name: x}\nbrand: {colors: {ink: #112233}}\n" + ASSET, "brandkit.yaml:2:23:"),
    ],
)
def test_an_unquoted_colour_in_a_flow_collection_says_quote_it_not_a_parser_error(
    run: Run, tmp_path: Path, text: str, where: str
) -> None:
    code, lines = validate(run, tmp_path, text)
    assert code == 1
    assert (
        lines[0] == f'{where} YAML syntax error: #112233 starts a comment here; quote it: "#112233"'
    )


def test_a_comment_that_only_looks_like_a_colour_is_left_alone(run: Run, tmp_path: Path) -> None:
    text = "kit: {name: x}\n" + ASSET + "    vars:\n      a: 1 #add more\n      b: x  # fed up\n"
    ok = "brandkit.yaml: ok (1 assets, 1 generations, 1 outputs)"
    assert validate(run, tmp_path, text) == (0, [ok])
    code, lines = validate(run, tmp_path, "kit: {name: x}\n" + ASSET + "    palette: [ink, \n")
    assert code == 1 and "quote it" not in lines[0]
    assert lines[0].startswith("brandkit.yaml:7:1: YAML syntax error: while parsing a flow")


def test_an_unknown_model_alias_is_a_validation_error_listing_the_aliases(
    run: Run, tmp_path: Path
) -> None:
    text = "kit: {name: x}\ndefaults: {model: recraft-v5}\n" + ASSET + "    model: recraft-v4-por\n"
    code, lines = validate(run, tmp_path, text)
    assert code == 1
    tail = f"known aliases: {ALIASES} (or a provider's own model id, e.g. recraft:v4@0 on runware)"
    assert lines == [
        f"brandkit.yaml:2:19: defaults.model: unknown model 'recraft-v5' (did you mean "
        f"'recraft-v4'?); {tail}",
        f"brandkit.yaml:7:12: assets.a.model: unknown model 'recraft-v4-por' (did you mean "
        f"'recraft-v4-pro'?); {tail}",
        "2 errors in the manifest",
    ]
    code, _, err = run(tmp_path / "kit", "plan", "--provider", "runware")
    assert code == 1 and "unknown model 'recraft-v5'" in err, "refused before any request"


@pytest.mark.parametrize(
    "model", ["recraft:v5@0", "recraftv5_pro", "recraft/recraftv5", "recraft-v4"]
)
def test_a_providers_own_model_id_still_passes(run: Run, tmp_path: Path, model: str) -> None:
    code, lines = validate(
        run, tmp_path, f"kit: {{name: x}}\ndefaults: {{model: '{model}'}}\n" + ASSET
    )
    assert code == 0, lines


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('kit: {name: x}\nassets:\n  a:\n    prompt: hi\n    szes: ["1:1"]\n',
         "brandkit.yaml:5:5: assets.a.szes: unknown key 'szes' (did you mean 'sizes'?)"),
        ('kit: {name: x}\nassets:\n  a:\n    promt: hi\n    sizes: ["1:1"]\n',
         "brandkit.yaml:4:5: assets.a.promt: unknown key 'promt' (did you mean 'prompt'?)"),
        ('kit: {name: x}\ntemplates: {t: hi}\nassets:\n  a:\n    templte: t\n    sizes: ["1:1"]\n',
         "brandkit.yaml:5:5: assets.a.templte: unknown key 'templte' (did you mean 'template'?)"),
        ('kit:\n  nme: x\n' + ASSET,
         "brandkit.yaml:2:3: kit.nme: unknown key 'nme' (did you mean 'name'?)"),
        ('kit: {name: x}\nasets:\n  a: {prompt: hi, sizes: ["1:1"]}\n',
         "brandkit.yaml:2:1: asets: unknown key 'asets' (did you mean 'assets'?)"),
    ],
)  # fmt: skip
def test_one_misspelt_key_is_one_error_not_also_a_missing_one(
    run: Run, tmp_path: Path, text: str, error: str
) -> None:
    code, lines = validate(run, tmp_path, text)
    assert code == 1
    assert len(lines) == 2 and lines[0].startswith(error + "; valid keys: "), lines
    assert lines[1] == "1 error in the manifest"


def test_a_misspelt_key_does_not_hide_a_real_second_mistake(run: Run, tmp_path: Path) -> None:
    """Both `template` and `prompt` set: renaming `szes` would not fix that, so it stays."""
    text = (
        "kit: {name: x}\ntemplates: {t: hi}\nassets:\n  a:\n    prompt: hi\n    template: t\n"
        '    szes: ["1:1"]\n'
    )
    code, lines = validate(run, tmp_path, text)
    assert code == 1
    assert lines[0] == (
        "brandkit.yaml:5:5: assets.a: set exactly one of `template` (a name from templates) "
        "or `prompt` (an inline template)"
    )
    assert lines[1].startswith("brandkit.yaml:7:5: assets.a.szes: unknown key 'szes'")
    assert lines[2] == "2 errors in the manifest"

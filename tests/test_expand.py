"""expand: templates in a sandbox, matrix products, sizes grouped by master, safe paths."""

from __future__ import annotations

import pytest

from pipeline.errors import ManifestError
from pipeline.expand import expand, safe_output_path, slug
from pipeline.load import load_yaml
from pipeline.manifest import validate
from pipeline.models import SIZES_1K, SIZES_2K

HEAD = """\
kit: {name: acme}
brand: {name: Acme, colors: {ink: "#112233"}, voice: bold}
defaults: {palette: [ink]}
templates: {t: "{{ subject }} for {{ brand.name }}"}
assets:
"""


def jobs_of(assets: str, **options):
    return expand(validate(load_yaml(HEAD + assets, "brandkit.yaml")), **options)


def errors(assets: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        jobs_of(assets)
    return [str(p) for p in info.value.problems]


def test_ratio_sizes_use_native_dimensions_and_exact_sizes_share_one_master() -> None:
    jobs = jobs_of(
        '  a: {template: t, vars: {subject: x}, sizes: ["16:9", "1200x630", '
        '"600x300", "1024x512", "1:1", "180x180", "32x32"]}\n'
    )
    masters = {(j.spec.width, j.spec.height): [o.path for o in j.outputs] for j in jobs}
    assert masters == {
        SIZES_1K["16:9"]: ["a/a-16x9.png"],
        SIZES_1K["2:1"]: ["a/a-1200x630.png", "a/a-600x300.png", "a/a-1024x512.png"],
        SIZES_1K["1:1"]: ["a/a-1x1.png", "a/a-180x180.png", "a/a-32x32.png"],
    }


def test_pro_models_use_the_2k_table() -> None:
    (job,) = jobs_of(
        '  a: {template: t, vars: {subject: x}, model: recraft-v4-pro, sizes: ["16:9"]}\n'
    )
    assert (job.spec.width, job.spec.height) == SIZES_2K["16:9"] == (2688, 1536)
    assert job.model == "recraft-v4-pro"


def test_matrix_is_a_cartesian_product_with_default_paths() -> None:
    jobs = jobs_of(
        "  s:\n    template: t\n    matrix: {subject: [Pour Over, beans], "
        "n: [1, 2, 3]}\n    sizes: ['1:1']\n"
    )
    assert len(jobs) == 6
    assert jobs[0].spec.prompt == "Pour Over for Acme"
    assert jobs[0].outputs[0].path == "s/s-pour-over-1-1x1.png"
    assert jobs[0].matrix == (("subject", "Pour Over"), ("n", "1"))
    assert len({j.key for j in jobs}) == 2  # `n` is not in the prompt: same requests


def test_out_template_and_formats() -> None:
    (job,) = jobs_of(
        '  a:\n    prompt: "icon {{ brand.voice }}"\n    sizes: ["1:1", "32x32",'
        ' "512x512"]\n    formats: [png, ico, webp]\n'
        '    out: "icons/{{ asset }}-{{ size }}.{{ format }}"\n'
    )
    assert [o.path for o in job.outputs] == [
        "icons/a-1x1.png",
        "icons/a-1x1.webp",
        "icons/a-32x32.png",
        "icons/a-32x32.webp",
        "icons/a-512x512.png",
        "icons/a-512x512.webp",
        "icons/a-32x32.ico",  # one ico per asset, after its sizes (512 is over 256)
    ]
    assert job.spec.prompt == "icon bold"


def test_ico_needs_a_small_square_exact_size() -> None:
    (msg,) = errors('  a: {prompt: x, sizes: ["1:1", "300x300"], formats: [ico]}\n')
    assert "assets.a.formats: ico needs at least one square exact size" in msg


def test_identical_requests_from_two_assets_share_a_key() -> None:
    jobs = jobs_of(
        '  a: {prompt: "same", sizes: ["1:1"]}\n  b: {prompt: "same", sizes: ["180x180"]}\n'
    )
    assert jobs[0].key == jobs[1].key


def test_slug() -> None:
    assert slug("Pour-Over Kit!") == "pour-over-kit"
    assert slug("Café ☕ 2") == "cafe-2"
    assert slug("///") == "x"


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ brand.__init__.__globals__ }}",
            "access to attribute '__init__' of 'dict' object is unsafe.",
        ),
        ("{{ 'x' * 100000000 }}", "repetition too large (over 10,000 items)"),
    ],
)
def test_sandbox_refuses_escapes_and_bombs(template: str, refusal: str) -> None:
    """Refused by the sandbox itself, for the reason given (not any template error)."""
    (msg,) = errors(f'  a: {{prompt: "{template}", sizes: ["1:1"]}}\n')
    assert msg == f"brandkit.yaml:6:15: assets.a.prompt: refused by the template sandbox: {refusal}"


@pytest.mark.parametrize(
    ("template", "prompt"),
    [
        ("{{ (['ab'] * 4000) | join }}", "ab" * 4000),  # 8,000 characters of short items
        ("{{ ','.join(['abc'] * 2000) }}", ",".join(["abc"] * 2000)),
        ("{{ '{0}-{1}-{0}'.format('a' * 3000, 'b') }}", "a" * 3000 + "-b-" + "a" * 3000),
        ("{{ '%s %s' % ('x' * 4000, 'y') }}", "x" * 4000 + " y"),
        ("{% for i in range(800) %}{{ 'z' * 10 }}{% endfor %}", "z" * 8000),
        ("{% set b %}{% for c in 'abc' %}{{ c }}-{% endfor %}{% endset %}{{ b }}", "a-b-c-"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) ~ m(2) }}", "<1><2>"),
        ("{{ ([1, 2] + [3]) ~ {'k': 'v'} }}", "[1, 2, 3]{'k': 'v'}"),
        ("{{ 'a\\nb\\nc' | indent(2) }}", "a\n  b\n  c"),
        ("{{ 'tea'.translate({116: 'T', 97: 'ah'}) }}", "Teah"),
        ("{{ ('x' * 5000) ~ ('y' * 4000) }}", "x" * 5000 + "y" * 4000),
        ("{{ (10 ** 99 * 10 ** 99) | string | length }}", "199"),
    ],
)
def test_the_sandbox_bounds_leave_ordinary_templates_alone(template: str, prompt: str) -> None:
    (job,) = jobs_of(f'  a: {{prompt: "{template}", sizes: ["1:1"]}}\n')
    assert job.spec.prompt == prompt


@pytest.mark.parametrize(
    "tag",
    [
        "{% include 'x.txt' %}",
        "{% import 'x' as y %}",
        "{% from 'x' import y %}",
        "{% extends 'base' %}",
    ],
)
def test_templates_cannot_load_files(tag: str) -> None:
    (msg,) = errors(f'  a: {{prompt: "{tag}", sizes: ["1:1"]}}\n')
    assert "is not allowed in templates" in msg


def test_undefined_variable_names_the_available_ones() -> None:
    (msg,) = errors('  a: {template: t, vars: {subjct: x}, sizes: ["1:1"]}\n')
    assert msg.startswith("brandkit.yaml:4:16: templates.t: 'subject' is undefined")
    assert "subjct" in msg


def test_a_shared_template_that_fails_names_each_asset_it_failed_for() -> None:
    msgs = errors(
        '  a: {template: t, vars: {subjct: x}, sizes: ["1:1"]}\n'
        '  b: {template: t, vars: {subjct: y}, sizes: ["1:1"]}\n'
    )
    assert [m.split(" (available")[0] for m in msgs] == [
        "brandkit.yaml:4:16: templates.t: 'subject' is undefined for asset 'a'",
        "brandkit.yaml:4:16: templates.t: 'subject' is undefined for asset 'b'",
    ]


def test_a_matrix_that_fails_the_same_way_everywhere_is_one_line_with_a_count() -> None:
    (msg,) = errors(
        '  a: {prompt: "{{ nope }} {{ m }} {{ n }}", matrix: {m: [x, y, z], n: [1, 2]}, '
        'sizes: ["1:1", "16:9"]}\n'
    )
    assert "assets.a.prompt: 'nope' is undefined (with m=x, n=1) (available: " in msg
    assert msg.endswith("; and 5 more combinations")  # 6 combinations, not 6 x 2 sizes
    (other,) = errors(
        '  a: {prompt: "{{ 1 // n }} {{ m }}", matrix: {n: [0, 1], m: [a, b]}, sizes: ["1:1"]}\n'
    )
    assert other.endswith(
        "template error (with n=0, m=a): integer division or modulo by zero; and 1 more combination"
    )


def test_template_syntax_error() -> None:
    (msg,) = errors('  a: {prompt: "{{ oops", sizes: ["1:1"]}\n')
    assert "assets.a.prompt: template syntax error" in msg


@pytest.mark.parametrize(
    "out",
    [
        "../x.png",
        "/etc/x.png",
        "a/../../x.png",
        ".hidden/x.png",
        "a//b.png",
        "C:/x.png",
        "index.json",
        "a\\\\b.png",
    ],
)
def test_out_paths_cannot_leave_the_version_folder(out: str) -> None:
    (msg,) = errors(f'  a: {{prompt: x, sizes: ["1:1"], out: "{out}"}}\n')
    assert "assets.a.out: the output path" in msg
    assert "must stay inside the version folder" in msg


def test_out_path_collisions_are_errors() -> None:
    (msg,) = errors('  a: {prompt: x, sizes: ["1:1", "2:1"], out: "same.png"}\n')
    assert "would be written to 'same.png'" in msg


def test_non_native_ratio_lists_the_valid_ones() -> None:
    (msg,) = errors('  a: {prompt: x, sizes: ["7:3"]}\n')
    assert "assets.a.sizes[0]: '7:3' is not a native aspect ratio" in msg
    assert "16:9" in msg


def test_prompt_length_is_checked() -> None:
    (msg,) = errors("  a: {prompt: \"{{ 'x' * 10000 }}{{ 'y' }}\", sizes: [\"1:1\"]}\n")
    assert "the prompt must be 1 to 10,000 characters, got 10,001" in msg


def test_max_jobs_bound_refuses_huge_matrices_without_expanding() -> None:
    values = ", ".join(str(i) for i in range(100))
    assets = f"  a:\n    prompt: x\n    matrix: {{a: [{values}], b: [{values}], c: [{values}]}}\n"
    assets += "    sizes: ['1:1', '2:1', '1:2', '3:2', '2:3', '4:3', '3:4', '5:4', '4:5', '16:9']\n"
    with pytest.raises(ManifestError) as info:
        jobs_of(assets)
    assert "expands to 10,000,000 outputs, over the limit of 100,000" in str(info.value)


def test_provider_and_model_overrides() -> None:
    (job,) = jobs_of('  a: {prompt: x, sizes: ["1:1"]}\n', model_override="recraft-v4.1-pro")
    assert (job.model, job.spec.width) == ("recraft-v4.1-pro", 2048)


def test_safe_output_path() -> None:
    assert safe_output_path("a/b/c.png") == "a/b/c.png"
    assert safe_output_path("a/./c.png") is None


@pytest.mark.parametrize(
    ("template", "why"),
    [
        pytest.param(  # the same 2 s bound is met by default in test_corpus.py
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "ran for more than",
            marks=pytest.mark.slow,
        ),
        ("{% set l = [1] %}{% for x in l %}{{ l.append(x) }}{% endfor %}", "sandbox"),
        ("{{ ('x' * 10000) * 10000 }}", "repetition too large"),
        ("{{ '%999999999d' % 1 }}", "format width too large"),
        ("{{ '{:>999999999}'.format(1) }}", "format width too large"),
        ("{{ ((10**100)**100)**100 }}", "power too large"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "recurses too deeply"),
        ("{{ 'abc' | truncate(-5) }}", "template error"),
        ("{{ {}['missing'] }}", "has no attribute 'missing'"),
    ],
)
def test_hostile_templates_are_located_errors_not_hangs(template: str, why: str) -> None:
    (msg,) = errors(f"  a:\n    prompt: |-\n      {template}\n    sizes: ['1:1']\n")
    assert msg.startswith("brandkit.yaml:7:13: assets.a.prompt:")
    assert "assets.a.prompt:" in msg and why in msg


def test_statically_deep_template_is_a_syntax_error() -> None:
    deep = "{% if 1 %}" * 120 + "x" + "{% endif %}" * 120
    (msg,) = errors(f"  a: {{prompt: '{deep}', sizes: ['1:1']}}\n")
    assert "assets.a.prompt: template syntax error" in msg


def test_exact_sizes_are_bounded() -> None:
    (msg,) = errors("  a: {prompt: x, sizes: ['99999x1']}\n")
    assert "assets.a.sizes[0]: '99999x1' is too large: exact sizes are at most 8192" in msg


def test_matrix_values_with_newlines_keep_errors_on_one_line() -> None:
    (msg,) = errors(
        "  a:\n    prompt: '{{ nope }}'\n    matrix: {v: [\"two\\nlines\"]}\n    sizes: ['1:1']\n"
    )
    assert "\n" not in msg and "v='two\\nlines'" in msg

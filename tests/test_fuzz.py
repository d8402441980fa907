"""Property-based hostile input: load -> validate -> expand never fails in an unplanned way.

Whatever the text, `load_yaml` + `validate` + `expand` either succeed or raise
`ManifestError` whose every problem has a location (line >= 1, column >= 1); any other
exception is a bug. Inputs: arbitrary text, YAML-ish text from a grammar of the manifest's
own keys and values, structured manifests (dumped with yaml.safe_dump) with random
mutations and Jinja snippets (sandbox escapes included), and character-level edits of a
valid manifest.

Kept out of the generators, and pinned in tests/test_corpus.py instead: templates that
run for seconds (nested loops: each render may take the sandbox's 2 s budget), and
templates that allocate hundreds of megabytes (huge widths and joins, a strict xfail
there): a property test must stay fast and must not be flaky about a known bug.
Lone surrogates are excluded from text: they cannot come out of a UTF-8 file.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ManifestError
from pipeline.expand import expand
from pipeline.load import load_yaml
from pipeline.manifest import validate

FILE = "brandkit.yaml"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written to .hypothesis/ in the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_CHEAP = settings(FUZZ, max_examples=300)  # for the quick text-level properties


def check_contract(text: str) -> None:
    """Succeed, or raise ManifestError with located problems; anything else propagates."""
    try:
        expand(validate(load_yaml(text, FILE)))
    except ManifestError as exc:
        assert exc.problems, "a ManifestError without problems"
        for problem in exc.problems:
            assert problem.location.file == FILE, problem
            assert problem.location.line >= 1, problem
            assert problem.location.column >= 1, problem
            assert isinstance(problem.path, str), problem
            assert problem.message, problem


# --- vocabularies ---------------------------------------------------------------------------

TOP_KEYS = ["kit", "brand", "defaults", "providers", "templates", "assets"]
KIT_KEYS = ["name", "version"]
BRAND_KEYS = ["name", "colors", "voice", "tagline"]
SETTING_KEYS = ["provider", "model", "format", "palette", "background", "style", "substyle"]
ASSET_KEYS = [
    *SETTING_KEYS,
    "template",
    "prompt",
    "vars",
    "matrix",
    "sizes",
    "formats",
    "out",
    "seed",
]
PROVIDER_KEYS = ["concurrency", "base_url", "timeout", "prices", "drop_colors"]
TYPOS = ["kits", "asset", "sizez", "pallete", "promt", "templtes", "colours", "fromat", "seeds"]
KEYS = sorted({*TOP_KEYS, *KIT_KEYS, *BRAND_KEYS, *ASSET_KEYS, *PROVIDER_KEYS, *TYPOS})

PROVIDERS = ["local", "runware", "cloudflare", "pixeldojo", "recraft", "midjourney", ""]
MODELS = [
    "recraft-v4",
    "recraft-v4-pro",
    "recraft-v4.1",
    "recraft-v4.1-pro",
    "recraft:v4@0",
    "recraftv4_pro",
    "dall-e",
    "",
]
FORMATS = ["png", "jpg", "webp", "ico", "gif", "PNG", ""]
SIZES = [
    "1:1",
    "16:9",
    "9:16",
    "2:1",
    "7:3",
    "0:1",
    "1:0",
    "16x",
    "x16",
    "1200x630",
    "32x32",
    "16x16",
    "256x256",
    "257x257",
    "1x1",
    "99999x1",
    "0x0",
    "-1x5",
    "1e3x2",
    "16:9:1",
    "",
]
COLOURS = [
    "#123",
    "#112233",
    "#12",
    "#GGGGGG",
    "#1234567",
    "ink",
    "paper",
    "nope",
    "",
    [1, 2, 3],
    [0, 0, 0],
    [255, 255, 255],
    [1, 2],
    [1, 2, 300],
    [-1, 0, 0],
    [True, 0, 0],
    ["1", "2", "3"],
    None,
]

# Jinja snippets that brandkit must refuse or render cleanly. Known crashers are in the
# corpus as xfails (bug-tpl-*.yaml) and deliberately not here.
JINJA = [
    "{{ brand.name }}",
    "{{ subject }}",
    "{{ size }}",
    "{{ format }}",
    "{{ width }}x{{ height }}",
    "{{ asset | upper }}",
    "{{ kit.name | slug }}",
    "{{ palette | join(', ') }}",
    "{{ background }}",
    "{{ brand.colors }}",
    "{{ undefined_thing }}",
    "{{ brand.nope }}",
    "{{ brand['nope'] }}",
    "{{ 1 / 0 }}",
    "{{ 'a' + 1 }}",
    "{{ 10 ** 100 }}",
    "{{ 2 ** 1000 }}",
    "{{ 'x' * 10 ** 9 }}",
    "{{ 'x' * 10000 }}",
    "{{ [0] * 100000 }}",
    "{% for i in range(10 ** 9) %}x{% endfor %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{% set x = 'y' %}{{ x }}",
    "{% if brand.name %}yes{% else %}no{% endif %}",
    "{% raw %}{{ not a var }}{% endraw %}",
    "{# a comment #}",
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ range.__globals__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ brand.__class__.__init__ }}",
    "{{ brand.name.__len__() }}",
    "{{ '{0.__class__}'.format(brand.name) }}",
    "{{ '%s' | format(brand.name) }}",
    "{{ brand.name | attr('__class__') }}",
    "{{ brand.name | map('upper') | list }}",
    "{{ brand | tojson }}",
    "{{ brand.name | e }}",
    "{{ [].pop() }}",
    "{{ {}.pop('a') }}",
    "{% set l = [1] %}{% for x in l %}{{ l.append(x) }}{% endfor %}",
    "{{ '%(a)s' | format(b=1) }}",
    "{{ '{a}'.format() }}",
    "{{ '{:>10000000000000}'.format(brand.name) }}",
    "{{ '%10000000000000s' % brand.name }}",
    "{{ 'x' * 10000 * 10000 * 10000 }}",
    "{{ (((10 ** 100) ** 100) ** 100) ** 100 }}",
    "{{ brand.name.encode('rot13') }}",
    "{{ brand.name | truncate(-1) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
    "{% for a in [1] %}" * 25 + "x" + "{% endfor %}" * 25,
    "{% include '/etc/passwd' %}",
    "{% import 'x.j2' as x %}",
    "{% from 'x.j2' import y %}",
    "{% extends 'base.j2' %}",
    "{% block b %}x{% endblock %}",
    "{% macro m() %}x{% endmacro %}{{ m() }}",
    "{% call m() %}x{% endcall %}",
    "{% filter upper %}x{% endfilter %}",
    "{% with a = 1 %}{{ a }}{% endwith %}",
    "{% do brand.clear() %}",
    "{% break %}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "{{ }}",
    "{{ brand.name ",
    "{% for %}",
    "{% endfor %}",
    "../",
    "/",
    "\\",
    "C:",
    ".",
    "index.json",
    "\n",
    "\t",
    "\x00",
    "é",
    "🙂",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(SIZES + FORMATS + PROVIDERS + MODELS),
    st.sampled_from(JINJA),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
jinja_text = st.one_of(
    st.sampled_from(JINJA),
    st.lists(
        st.one_of(st.sampled_from(JINJA), st.text(alphabet=string.printable, max_size=8)),
        min_size=1,
        max_size=4,
    ).map("".join),
)


def often(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good`, or about one time in eight `bad`."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 7 else good)  # 0 is drawn more


COLOUR_NAMES = ["ink", "paper", "sage"]
RATIOS = ["1:1", "2:1", "1:2", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "14:10", "6:10"]
GOOD_PROMPTS = [
    "{{ subject }} for {{ brand.name }}",
    "a {{ size }} picture of {{ subject | upper }}",
    "{{ brand.name }} in {{ palette | join(' and ') }}",
    "{% for c in palette %}{{ c }} {% endfor %}{{ kit.name }}",
    "{{ asset }}: {{ subject | slug }} {{ n }}",
    "plain prompt",
]
GOOD_OUTS = [
    "{{ asset }}/{{ subject | slug }}-{{ n }}-{{ size }}.{{ format }}",
    "x/{{ width }}x{{ height }}-{{ subject | slug }}-{{ n }}.{{ format }}",
]

good_colour = st.one_of(
    st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True),
    st.from_regex(r"#[0-9a-fA-F]{3}", fullmatch=True),
    st.lists(st.integers(0, 255), min_size=3, max_size=3),
)
bad_colour = st.one_of(
    st.sampled_from(COLOURS),
    st.from_regex(r"#?[0-9A-Za-z]{0,8}", fullmatch=True),
    st.lists(st.integers(-300, 300), max_size=4),
    values,
)
colour_ref = st.one_of(st.sampled_from(COLOUR_NAMES), good_colour)
good_size = st.one_of(
    st.sampled_from(RATIOS),
    st.builds("{}x{}".format, st.integers(1, 4096), st.integers(1, 4096)),
    st.sampled_from(["16x16", "32x32", "256x256"]),
)
bad_size = st.one_of(
    st.sampled_from(SIZES),
    st.from_regex(r"-?[0-9]{0,6}[x:X]?[0-9]{0,6}", fullmatch=True),
    st.text(max_size=8),
    values,
)
prompt = st.one_of(st.sampled_from(GOOD_PROMPTS), jinja_text)
var_value = st.one_of(st.text(max_size=10), st.integers(-5, 5), st.booleans(), st.floats())


@st.composite
def assets(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible asset: usually valid, now and then a wrong field."""
    asset: dict[str, Any] = {}
    if draw(st.booleans()):
        asset["template"] = draw(often(st.just("t"), st.sampled_from(["u", ""])))
    else:
        asset["prompt"] = draw(prompt)
    asset["vars"] = {"subject": draw(var_value), "n": draw(var_value)}
    if draw(st.integers(0, 2)) == 0:
        key = draw(st.sampled_from(["subject", "n", "other"]))
        asset["vars"].pop(key, None)
        asset["matrix"] = {key: draw(st.lists(var_value, min_size=1, max_size=3))}
    asset["sizes"] = draw(st.lists(often(good_size, bad_size), min_size=1, max_size=4))
    if draw(st.booleans()):
        asset["formats"] = draw(
            st.lists(st.sampled_from(["png", "jpg", "webp", "ico"]), min_size=1, unique=True)
        )
    if draw(st.integers(0, 2)) == 0:
        asset["out"] = draw(st.one_of(st.sampled_from(GOOD_OUTS), jinja_text))
    if draw(st.integers(0, 3)) == 0:
        asset["palette"] = draw(st.lists(often(colour_ref, bad_colour), max_size=5))
    if draw(st.integers(0, 5)) == 0:
        asset["provider"] = draw(st.sampled_from(PROVIDERS[:5]))
    if draw(st.integers(0, 5)) == 0:
        asset["model"] = draw(often(st.sampled_from(MODELS[:4]), st.sampled_from(MODELS)))
    if draw(st.integers(0, 5)) == 0:
        asset["seed"] = draw(st.integers(0, 2**32 - 1))
    return asset


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest that resembles a valid one (most are; the rest have one or two slips)."""
    colors = {
        name: draw(often(good_colour, bad_colour))
        for name in draw(st.sampled_from([COLOUR_NAMES, COLOUR_NAMES, COLOUR_NAMES[:1], []]))
    }
    manifest: dict[str, Any] = {
        "kit": {"name": draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True))},
        "brand": {"name": draw(st.text(max_size=10)), "colors": colors, "voice": "bold"},
        "templates": {"t": draw(prompt)},
        "assets": draw(
            st.dictionaries(
                st.from_regex(r"[a-z0-9][a-z0-9_-]{0,6}", fullmatch=True),
                assets(),
                min_size=1,
                max_size=3,
            )
        ),
    }
    if draw(st.booleans()):
        manifest["defaults"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "provider": st.sampled_from(PROVIDERS[:5]),
                    "model": st.sampled_from(MODELS[:4]),
                    "palette": st.lists(colour_ref, max_size=5),
                    "background": colour_ref,
                    "format": st.sampled_from(["png", "jpg", "webp"]),
                },
            )
        )
    if draw(st.integers(0, 4)) == 0:
        manifest["providers"] = {
            "pixeldojo": {"drop_colors": True, "prices": {"recraft-v4": 0.05}},
            "runware": {"concurrency": draw(st.integers(1, 64))},
        }
    return manifest


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest with one to three random leaves or keys replaced, deleted or added.

    A replacement is a wrong type, a random colour-, size- or template-like string, or any
    value at all.
    """
    manifest = draw(manifests())
    hostile = st.one_of(values, bad_colour, bad_size, jinja_text, st.text(max_size=20))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = manifest
        while isinstance(node, dict | list) and node and draw(st.integers(0, 3)) < 3:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            child = node[draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list) or not child:
                break
            node = child
        if isinstance(node, dict):
            action = draw(st.sampled_from(["set", "set", "delete", "add"]))
            if action == "add" or not node:
                node[draw(st.sampled_from(KEYS))] = draw(hostile)
            elif action == "delete":
                del node[draw(st.sampled_from(list(node)))]
            else:
                node[draw(st.sampled_from(list(node)))] = draw(hostile)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(hostile)
    return manifest


def dump(manifest: Any) -> str:
    return yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False)


# --- YAML-ish text from a grammar -------------------------------------------------------------

YAML_VALUES = [
    "",
    "acme",
    "Acme Corp",
    "'1:1'",
    '"16:9"',
    "1200x630",
    "[1, 2, 3]",
    "[ink, paper]",
    '["1:1", "32x32"]',
    "{name: acme}",
    "{a: {prompt: x, sizes: ['1:1']}}",
    "{",
    "[",
    "}",
    "]",
    '"unterminated',
    "'unterminated",
    "|",
    ">-",
    "&a x",
    "*a",
    "&b [*b]",
    "*undefined",
    "!!python/object/apply:os.system ['id']",
    "!!binary aGk=",
    "!!set {a, b}",
    "!!str 12",
    "!!int x",
    "!custom x",
    "? complex",
    "- item",
    "-",
    "<<: *a",
    "~",
    "null",
    "no",
    "yes",
    "on",
    "0x1F",
    "0o17",
    "1e400",
    ".nan",
    "-.inf",
    "2024-01-01",
    "#123",
    "'#GGGGGG'",
    "---",
    "...",
    "%YAML 1.2",
    "%TAG ! tag:x,2000:",
    "\t",
    '"{{ brand.name }}"',
    "\"{% include 'x' %}\"",
    "\"{{ ''.__class__ }}\"",
    "'{{ cycler.__init__.__globals__ }}'",
]


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    """Lines of `key: value` with mostly consistent indentation, and some noise."""
    lines: list[str] = []
    depth = 0
    for _ in range(draw(st.integers(1, 16))):
        indent = "  " * depth
        kind = draw(st.integers(0, 9))
        if kind == 0:  # noise: a stray token or random text, maybe badly indented
            noise = draw(st.sampled_from(["", " ", "\t", "   ", "- ", "? "]))
            token = st.one_of(st.sampled_from(YAML_VALUES), st.text(max_size=20))
            lines.append(noise + draw(token))
            continue
        key = draw(often(st.sampled_from(KEYS), st.sampled_from(YAML_VALUES)))
        if kind > 5 and depth < 6:  # open a nested mapping
            lines.append(f"{indent}{key}:")
            depth += 1
            continue
        value = draw(
            st.one_of(
                st.sampled_from(YAML_VALUES),
                st.sampled_from(JINJA).map(json.dumps),  # a double-quoted YAML string
                st.sampled_from(SIZES + FORMATS + PROVIDERS + MODELS).map(json.dumps),
            )
        )
        lines.append(f"{indent}{key}: {value}")
        depth = draw(st.integers(0, depth))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


VALID = """\
kit: {name: acme, version: "1"}
brand:
  name: Acme
  colors: {ink: "#112233", paper: [240, 238, 232]}
  voice: bold
defaults: {palette: [ink, paper], background: paper}
templates:
  hero: "{{ subject }} for {{ brand.name }}, {{ brand.voice }}"
assets:
  hero:
    template: hero
    vars: {subject: a latte}
    sizes: ["16:9", "1:1", "1200x630"]
  social:
    template: hero
    matrix: {subject: [beans, pour-over]}
    sizes: ["1:1"]
    out: "social/{{ subject | slug }}-{{ size }}.{{ format }}"
  icon:
    prompt: "an icon for {{ brand.name }}"
    sizes: ["32x32", "1:1"]
    formats: [png, ico]
"""


@st.composite
def edited(draw: st.DrawFn) -> str:
    """The valid manifest with a few characters inserted, deleted or replaced."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        piece = draw(
            st.one_of(
                st.sampled_from([*"{}[]:,'\"-#&*!|>?% \t\n", "{{", "}}", "{%", "../"]),
                st.text(max_size=3),
            )
        )
        cut = draw(st.integers(0, 3))
        text = text[:i] + piece + text[i + cut :]
    return text


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


# --- the properties ---------------------------------------------------------------------------


def test_the_valid_base_manifest_expands() -> None:
    assert expand(validate(load_yaml(VALID, FILE)))


@FUZZ_CHEAP
@given(TEXT)
def test_arbitrary_text(text: str) -> None:
    check_contract(text)


@pytest.mark.slow
@FUZZ_CHEAP
@given(yamlish())
def test_yaml_like_text_from_the_manifest_grammar(text: str) -> None:
    check_contract(text)


@pytest.mark.slow
@FUZZ
@given(manifests())
def test_structured_manifests(manifest: dict[str, Any]) -> None:
    check_contract(dump(manifest))


@pytest.mark.slow
@FUZZ
@given(mutated())
def test_mutated_manifests(manifest: dict[str, Any]) -> None:
    check_contract(dump(manifest))


@FUZZ_CHEAP
@given(edited())
def test_character_edits_of_a_valid_manifest(text: str) -> None:
    check_contract(text)


@pytest.mark.slow
@FUZZ_CHEAP
@given(st.lists(st.sampled_from(JINJA), min_size=1, max_size=3).map("".join), st.booleans())
def test_jinja_snippets_in_prompt_and_out(template: str, as_out: bool) -> None:
    asset: dict[str, Any] = {"prompt": "x", "sizes": ["1:1", "32x32"], "formats": ["png", "ico"]}
    asset["out" if as_out else "prompt"] = template
    manifest = {
        "kit": {"name": "acme"},
        "brand": {"name": "Acme", "colors": {"ink": "#112233"}},
        "defaults": {"palette": ["ink"]},
        "assets": {"hero": {**asset, "vars": {"subject": "latte"}}},
    }
    text = dump(manifest)
    check_contract(text)
    try:
        jobs = expand(validate(load_yaml(text, FILE)))
    except ManifestError:
        return  # refused, with located problems (checked above)
    # Rendered: then no escape snippet ran (each reaches for a dunder), and nothing of
    # Python's insides (a class, a function, a module, a command's output) came out.
    assert "__" not in template, f"{template!r} rendered: the sandbox let it through"
    for rendered in [j.spec.prompt for j in jobs] + [o.path for j in jobs for o in j.outputs]:
        for leak in ("<class", "<function", "<built-in", "<module", "uid="):
            assert leak not in rendered, (template, rendered)

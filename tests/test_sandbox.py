"""The template sandbox, tested directly: `make_environment()` and `render()`, no CLI.

One test per bound, each naming what it guarantees and asserting the sandbox's own
refusal (a `SecurityError` with its exact message), beside templates just inside the
same bound that must render exactly. Escapes are checked for what matters: that nothing
of a Python object reaches the output.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import SecurityError

from pipeline.sandbox import (
    RenderTimeout,
    RenderTimer,
    _CodeGenerator,
    make_environment,
    render,
)
from pipeline.sandbox_bounds import MAX_OUTPUT, MAX_TEXT

ENV = make_environment()
BIG = "{% set x = 'x' * 10000 %}{% set big = x ~ x ~ x ~ x ~ x %}"
# `big` is 50,000 characters: twice it with a short format is just past MAX_OUTPUT


def rendered(source: str, **context: Any) -> str:
    return render(ENV.from_string(source), context, source)


def refusal(source: str, **context: Any) -> str:
    """The sandbox's message refusing `source` (a SecurityError, nothing else)."""
    with pytest.raises(SecurityError) as info:
        rendered(source, **context)
    return str(info.value)


# -- operators ---------------------------------------------------------------------------------


def test_doubling_a_string_past_the_limit_is_refused_by_the_sandbox() -> None:
    doubling = "{% set a = 'x' * 10000 %}" + "{% set a = a + a %}" * 4 + "{{ a | length }}"
    assert refusal(doubling) == "string too large (over 100,000 characters)"
    ten = "{% set a = 'x' * 10000 %}{{ (a + a + a + a + a + a + a + a + a + a) | length }}"
    assert rendered(ten) == "100000"


def test_repeating_a_string_or_list_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ 'x' * 10001 }}") == "repetition too large (over 10,000 items)"
    assert refusal("{{ 10001 * [0] }}") == "repetition too large (over 10,000 items)"
    assert rendered("{{ 'x' * 10000 }}") == "x" * MAX_TEXT
    assert rendered("{{ ([0] * 10000) | length }}") == "10000"


def test_adding_lists_past_the_limit_is_refused_by_the_sandbox() -> None:
    source = "{{ (([0] * 6000) + ([1] * 5000)) | length }}"
    assert refusal(source) == "list too large (over 10,000 items)"
    assert rendered("{{ (([0] * 6000) + ([1] * 4000)) | length }}") == "10000"


def test_a_huge_power_is_refused_by_the_sandbox_before_python_computes_it() -> None:
    assert refusal("{{ 10 ** 101 }}") == "power too large"
    assert refusal("{{ ((10 ** 100) ** 100) ** 100 }}") == "power too large"
    assert rendered("{{ 2 ** 100 }}") == str(2**100)


def test_squaring_a_number_past_40000_bits_is_refused_by_the_sandbox() -> None:
    setup = "{% set b = (2 ** 100) ** 100 %}{% set c = b * b %}"
    assert refusal(setup + "{{ c * c }}") == "number too large"
    assert rendered(setup + "{{ (c * (c // 4)) > c }}") == "True"  # 20,001 + 19,999 bits


def test_a_percent_width_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ '%10001s' % 'x' }}") == "format width too large"
    assert refusal("{{ '%(a)10001s' % {'a': 'x'} }}") == "format width too large"
    assert refusal("{{ '%*s' % (5, 'x') }}") == "format width too large"
    assert rendered("{{ '%10000s' % 'x' }}") == " " * 9999 + "x"


def test_a_percent_format_doubling_a_string_is_refused_by_the_sandbox() -> None:
    message = "formatted string too large (over 100,000 characters)"
    assert refusal(BIG + "{{ '%s%s' % (big, big) }}") == message
    assert rendered(BIG + "{{ ('%s%s' % (big[2:], big[2:])) | length }}") == "99996"


# -- str.format --------------------------------------------------------------------------------


def test_a_str_format_width_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ '{:>10001}'.format(1) }}") == "format width too large"
    assert refusal("{{ '{:>{w}}'.format(1, w=5) }}") == "format width too large"
    assert rendered("{{ '{:>10000}'.format(1) }}") == " " * 9999 + "1"


def test_a_str_format_doubling_a_string_is_refused_by_the_sandbox() -> None:
    message = "formatted string too large (over 100,000 characters)"
    assert refusal(BIG + "{{ '{0}{0}'.format(big) }}") == message
    assert refusal(BIG + "{{ '{a}{a}'.format_map({'a': big}) }}") == message
    assert rendered(BIG + "{{ '{0}{0}'.format(big[3:]) | length }}") == "99994"


def test_a_format_reaching_into_an_object_is_refused_by_the_sandbox() -> None:
    message = "access to attribute '__class__' of 'str' object is unsafe."
    assert refusal("{{ '{0.__class__}'.format('x') }}") == message


# -- filters -----------------------------------------------------------------------------------


def test_the_center_filter_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ 'x' | center(10001) }}") == "width too large"
    assert refusal("{{ 'x' | center(width=10001) }}") == "width too large"
    assert rendered("{{ 'x' | center(10000) | length }}") == "10000"


def test_the_indent_filter_past_the_limit_is_refused_by_the_sandbox() -> None:
    message = "indent result too large (over 10,000 characters)"
    assert refusal("{{ ('\\n' * 9999) | indent(2, blank=true) }}") == message
    assert refusal("{{ ('\\n' * 9999) | indent(width='yy') }}") == message
    assert refusal("{{ 'x' | indent(10001) }}") == message
    near = "{{ ('a\\n' * 3333) | indent(1, blank=true) }}"  # 6,666 + 3,334 lines of 1
    assert rendered(near) == jinja2.Environment().from_string(near).render()


def test_the_format_filter_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ '%10001s' | format('x') }}") == "format width too large"
    message = "result too large (over 10,000 characters)"
    assert refusal("{{ '%s%s' | format('x' * 9999, 'yy') }}") == message
    assert rendered("{{ '%(n)d' | format(n=123456) }}") == "123456"  # a number, not a width
    assert rendered("{{ '%s-%s' | format('a' * 4999, 'b' * 5000) | length }}") == "10000"


@pytest.mark.parametrize(
    "call",
    ["replace('y', 'z' * 9999)", "replace(old='y', new='z' * 9999)", "replace('y', new='zz')"],
)
def test_the_replace_filter_past_the_limit_is_refused_by_the_sandbox(call: str) -> None:
    message = "replace result too large (over 10,000 characters)"
    assert refusal(f"{{{{ ('y' * 9999) | {call} }}}}") == message


def test_the_replace_filter_up_to_the_limit_renders() -> None:
    assert rendered("{{ ('y' * 5000) | replace('y', 'zz') }}") == "zz" * 5000
    assert rendered("{{ 'yyy' | replace('y', 'z', count=2) }}") == "zzy"


def test_the_join_filter_past_the_limit_is_refused_by_the_sandbox() -> None:
    message = "join too large (over 10,000 characters)"
    assert refusal("{{ range(20000) | join('x' * 9999) }}") == message
    assert refusal("{{ (['ab'] * 5001) | join }}") == message
    assert rendered("{{ (['ab'] * 5000) | join }}") == "ab" * 5000


@pytest.mark.parametrize(
    "name",
    [
        *("capitalize", "lower", "slug", "string", "title", "trim", "upper", "wordcount"),
        *("truncate", "center", "indent", "replace('a', 'b')"),
    ],
)
def test_a_text_filter_on_a_huge_list_is_refused_by_the_sandbox(name: str) -> None:
    source = f"{{{{ (['x' * 9999] * 10000) | {name} }}}}"
    assert refusal(source) == "value too large to print (over 100,000 characters)"


# -- str methods -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["ljust", "rjust", "center", "zfill"])
def test_padding_a_string_past_the_limit_is_refused_by_the_sandbox(method: str) -> None:
    assert refusal(f"{{{{ 'x'.{method}(10001) }}}}") == f"{method}() width too large"
    assert rendered(f"{{{{ '1'.{method}(10000) | length }}}}") == "10000"


def test_expanding_tabs_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal("{{ '\\t'.expandtabs(10001) }}") == "expandtabs() width too large"
    message = "expandtabs() result too large (over 10,000)"
    assert refusal("{{ ('\\t' * 9999).expandtabs(tabsize=9999) }}") == message  # by name
    assert rendered("{{ ('\\t' * 2500).expandtabs(tabsize=3) }}") == " " * 7500


def test_a_str_join_past_the_limit_is_refused_by_the_sandbox() -> None:
    message = "join too large (over 10,000 characters)"
    assert refusal("{{ ('y' * 10000).join('z' * 10000) }}") == message
    assert rendered("{{ ','.join(['abc'] * 2500) | length }}") == str(4 * 2500 - 1)


@pytest.mark.parametrize("items", ["d.values()", "d.keys()", "d", "d.values() | list"])
def test_a_str_join_of_dict_items_past_the_limit_is_refused_by_the_sandbox(items: str) -> None:
    setup = "{% set x = 'x' * 5000 %}{% set d = {x: x, x ~ 'y': x, x ~ 'z': x} %}"
    message = "join too large (over 10,000 characters)"
    assert refusal(setup + f"{{{{ ''.join({items}) }}}}") == message
    assert rendered(setup + "{{ ''.join(d.values()|first) | length }}") == "5000"


def test_a_str_replace_past_the_limit_is_refused_by_the_sandbox() -> None:
    message = "replace result too large (over 10,000 characters)"
    assert refusal("{{ ('y' * 9999).replace('y', 'z' * 9999) }}") == message
    assert rendered("{{ ('y' * 5000).replace('y', 'zz') }}") == "zz" * 5000


def test_a_str_translate_past_the_limit_is_refused_by_the_sandbox() -> None:
    message = "translate result too large (over 10,000 characters)"
    assert refusal("{{ ('x' * 9999).translate({120: 'y' * 9999}) }}") == message
    assert refusal("{{ ('x' * 9999).translate(['y' * 9999] * 200) }}") == message
    assert refusal("{{ 'x'.translate('table') }}") == "translate() takes a dict or a list here"
    assert rendered("{{ ('x' * 5000).translate({120: 'yz'}) }}") == "yz" * 5000


def test_a_str_method_called_wrongly_fails_in_its_own_words() -> None:
    with pytest.raises(TypeError, match=r"ljust\(\) takes no keyword arguments"):
        rendered("{{ 'x'.ljust(width=10001) }}")


@pytest.mark.parametrize(
    ("source", "owner"),
    [("{{ 'x'.encode() }}", "str"), ("{{ (5).to_bytes(200000000, 'big') }}", "int")],
)
def test_making_bytes_is_refused_by_the_sandbox(source: str, owner: str) -> None:
    attribute = "encode" if owner == "str" else "to_bytes"
    assert refusal(source) == f"access to attribute {attribute!r} of {owner!r} object is unsafe."


# -- what a template prints --------------------------------------------------------------------


def test_printing_a_huge_list_is_refused_by_the_sandbox() -> None:
    message = "value too large to print (over 100,000 characters)"
    assert refusal("{{ ['x' * 9999] * 10000 }}") == message
    assert refusal("{{ {'k': ['x' * 9999] * 10000} }}") == message
    assert refusal("{{ 'a' ~ (['x' * 9999] * 10000) }}") == message
    assert rendered("{{ ['ab'] * 3 }}") == "['ab', 'ab', 'ab']"


def test_joining_with_tilde_past_the_limit_is_refused_by_the_sandbox() -> None:
    assert refusal(BIG + "{{ big ~ big ~ 'x' }}") == "string too large (over 100,000 characters)"
    assert rendered(BIG + "{{ (big ~ big) | length }}") == "100000"


def test_a_template_printing_past_the_limit_is_refused_by_the_sandbox() -> None:
    source = "{% for i in range(11) %}{{ 'x' * 10000 }}{% endfor %}"
    limit = MAX_OUTPUT + len(source)
    assert refusal(source) == f"the output is too large (over {limit:,} characters)"
    assert rendered(source.replace("11", "10")) == "x" * MAX_OUTPUT


LOOP = "{% for i in range(N) %}{{ 'x' * 10000 }}{% endfor %}"
BUFFERS = {
    "set-block": "{% set b %}LOOP{% endset %}{{ b | length }}",
    "macro": "{% macro m() %}LOOP{% endmacro %}{{ m() | length }}",
    "filter-block": "{% filter lower %}LOOP{% endfilter %}",
    "call-block": "{% macro m() %}{{ caller() | length }}{% endmacro %}"
    "{% call m() %}LOOP{% endcall %}",
}


@pytest.mark.parametrize("kind", list(BUFFERS))
def test_a_block_printing_past_the_limit_is_refused_by_the_sandbox(kind: str) -> None:
    source = BUFFERS[kind].replace("LOOP", LOOP.replace("N", "11"))
    assert refusal(source) == "the output is too large (over 100,000 characters)"
    inside = rendered(BUFFERS[kind].replace("LOOP", LOOP.replace("N", "10")))
    assert inside == ("x" * MAX_OUTPUT if kind == "filter-block" else "100000")


def test_jinja_still_compiles_through_the_sandbox_hooks() -> None:
    """The output bounds rely on how Jinja 3.1 compiles (see `_CodeGenerator`): every
    buffer made by `CodeGenerator.buffer`, joined by `environment.concat`, and `~` by
    `visit_Concat`. If a Jinja release changes that, this fails, not the bounds silently."""
    why = (
        f"Jinja {jinja2.__version__} no longer compiles as pipeline.sandbox._CodeGenerator "
        "expects (its docstring says what it relies on): the output bounds may not hold"
    )
    for kind, source in BUFFERS.items():
        code = ENV.compile(source.replace("LOOP", LOOP.replace("N", "2")), raw=True)
        assert ENV.code_generator_class is _CodeGenerator, why
        assert "environment.output_buffer()" in code, f"{why} ({kind}: no bounded buffer)"
        assert not re.search(r"\b\w+ = \[\]", code), f"{why} ({kind}: a plain list buffer)"
        assert "concat = environment.concat" in code, f"{why} ({kind}: another concat)"
        buffers = re.findall(r"(\w+) = environment\.output_buffer\(\)", code)
        for name in buffers:  # the buffer only grows by .append / .extend, then is joined
            uses = set(re.findall(rf"\b{name}\b(\.\w+|\))?", code))
            assert uses <= {"", ".append", ".extend", ")"}, f"{why} ({kind}: {uses})"
    tilde = ENV.compile("{{ a ~ b }}", raw=True)
    assert "environment.str_join((" in tilde, f"{why} (`~` is not bounded)"
    assert "markup_join(" not in tilde.split("\n", 1)[1], f"{why} (`~` is not bounded)"


# -- escapes ---------------------------------------------------------------------------------

CANARY = "CANARY-7f3a"  # in this module's globals and in the context object's private field


@dataclass
class Brand:
    name: str = "Acme"
    voice: str = "calm"
    _token: str = field(default=CANARY, repr=False)

    def describe(self) -> str:
        return f"{self.name}, {self.voice}"


ROOTS = ["''", "brand", "brand.name", "brand.describe", "range", "[]", "{}", "m", "loop", "self"]
STEPS = [
    ".__class__",
    ".__mro__",
    ".__subclasses__()",
    ".__base__",
    ".__init__",
    ".__globals__",
    ".__builtins__",
    ".__dict__",
    ".__self__",
    ".__func__",
    ".__code__",
    ".__closure__",
    ".mro()",
    "._token",
    "['_token']",
    "['__class__']",
    "|attr('__globals__')",
    ".gi_frame",
    "._TemplateReference__context",
    "._environment",
    ".format",
    ".describe",
    ".items()",
    "[0]",
]
PRINTERS = ["{{ %s }}", "{{ %s | string }}", "{{ '{}'.format(%s) }}", "{{ %s ~ '' }}"]
# What an escape would print: classes, modules, globals, code, the context or environment
LEAKS = re.compile(
    r"CANARY|<class |<module |mappingproxy|__builtins__|__import__|<frame |<code |<cell "
    r"|Environment|Context|subclasses"
)


def _escapes(count: int) -> list[str]:
    rng = random.Random(13)
    out = []
    for _ in range(count):
        chain = rng.choice(ROOTS) + "".join(rng.choice(STEPS) for _ in range(rng.randint(1, 4)))
        out.append(rng.choice(PRINTERS) % chain)
    return out


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ brand.__init__.__globals__ }}",
        "{{ brand.describe.__globals__['CANARY'] }}",
        "{{ brand._token }}",
        "{{ brand | attr('_token') }}",
        "{{ range.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ m._environment }}",
        "{{ '{0._token}'.format(brand) }}",
        "{{ '{0.__class__.__mro__}'.format(brand) }}",
        *_escapes(400),
    ],
)
def test_an_escape_attempt_leaks_nothing_of_python_into_the_output(source: str) -> None:
    template = "{% macro m() %}{% endmacro %}{% for x in [1] %}" + source + "{% endfor %}"
    try:
        text = rendered(template, brand=Brand())
    except jinja2.TemplateError:  # SecurityError, UndefinedError: refused by the sandbox
        return
    except (TypeError, ValueError, LookupError):  # a plain error, before anything printed
        return
    assert not LEAKS.search(text), f"{source!r} printed {text!r}"


def test_the_escape_fuzz_reaches_the_sandbox_and_renders_some_attempts() -> None:
    """The fuzz above means something: most attempts are refused by the sandbox's
    attribute check, and some (harmless ones) render."""
    outcomes: dict[str, int] = {}
    for source in _escapes(400):
        template = "{% macro m() %}{% endmacro %}{% for x in [1] %}" + source + "{% endfor %}"
        try:
            rendered(template, brand=Brand())
            kind = "rendered"
        except SecurityError as exc:
            kind = "unsafe" if str(exc).endswith("is unsafe.") else "bounded"
        except Exception as exc:
            kind = type(exc).__name__
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert outcomes.get("unsafe", 0) > 50 and outcomes.get("rendered", 0) > 0, outcomes


# -- time --------------------------------------------------------------------------------------


def test_a_render_over_its_time_budget_is_stopped_by_the_timer() -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with RenderTimer(seconds=0.05, total=10) as timer:
        timer.arm()
        try:
            with pytest.raises(RenderTimeout, match=r"^the template ran for more than 0\.05s$"):
                rendered(source)
        finally:
            timer.disarm()
        assert 0.05 <= timer.spent < 5


def test_renders_past_the_total_budget_are_refused_before_they_start() -> None:
    with RenderTimer(seconds=1, total=0.0) as timer:
        timer.arm()
        assert rendered("{{ 1 }}") == "1"
        timer.disarm()
        with pytest.raises(RenderTimeout, match=r"^the templates ran for more than 0s in all$"):
            timer.arm()


# -- what stays ordinary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("{{ brand.name | upper }} {{ brand.name | slug }}", "ACME acme"),
        ("{{ 'a\\nb' | indent(2, first=true) }}", "  a\n  b"),
        ("{{ 'x' | center(5) }}", "  x  "),
        ("{{ '%s-%s' | format('a', 'b') }}", "a-b"),
        ("{{ 'tea'.translate({116: 'T', 97: 'ah'}) }}", "Teah"),
        ("{{ 'long text here' | truncate(9, true, '', 0) }}", "long text"),
        ("{{ [3, 1, 2] | sort | join(',') }}", "1,2,3"),
        ("{{ '{a}-{b}'.format(a=1, b='c') }}", "1-c"),
        ("{{ ('a' ~ 1 ~ none) }}", "a1None"),
        ("{{ 'a b c' | wordcount }}", "3"),
    ],
)
def test_ordinary_templates_render_exactly(source: str, output: str) -> None:
    assert rendered(source, brand={"name": "Acme"}) == output

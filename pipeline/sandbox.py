"""The template sandbox: what a manifest's Jinja may do, and how much of it.

`ImmutableSandboxedEnvironment` (no attribute tricks, no mutating lists in a loop) with
`StrictUndefined`, an explicit filter list and no loader (so no include/import/extends
of files); `*`, `**`, `%`, `+`, `~`, `str.format` and the string methods that pad, join,
replace or translate are bounded by the size of what they would build, and so is what a
template (or a block, a macro, a `{% set %}` block) prints; nothing can make bytes; each
render runs under a time budget. So no template can exhaust memory or hang a build, and
whatever goes wrong in a user's template is reported against it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import string
import threading
import time
import unicodedata
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_TEXT = 10_000  # no string a template builds needs to be longer than a prompt
MAX_OUTPUT = 10 * MAX_TEXT  # what a template prints, or joins with `~` / `+`: room for
# whitespace that is trimmed afterwards, and still nothing that memory would notice
RENDER_SECONDS = 2.0  # one render
TOTAL_RENDER_SECONDS = 30.0  # every render of one expansion together

_SAFE_FILTERS = (
    "abs",
    "capitalize",
    "center",
    "d",
    "default",
    "first",
    "float",
    "format",
    "indent",
    "int",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "max",
    "min",
    "replace",
    "reverse",
    "round",
    "sort",
    "string",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "wordcount",
)
# Filters that turn what they are given into text first.
_TEXT_FILTERS = (
    "capitalize",
    "center",
    "indent",
    "lower",
    "replace",
    "slug",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordcount",
)
_WIDTHS = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
# Bytes have every padding and joining method of str, unchecked; a prompt needs none.
_REFUSED_ATTRIBUTES = frozenset({"encode", "to_bytes"})


@functools.lru_cache(maxsize=8192)
def slug(value: Any) -> str:
    """`Pour-Over Kit!` -> `pour-over-kit`: ASCII, lowercase, safe in a file name."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text or "x"


_SCALARS = (str, int, float, bool, type(None))
_SEQUENCES: tuple[type, ...] = (
    list,
    tuple,
    set,
    frozenset,
    type({}.keys()),
    type({}.values()),
    type({}.items()),
)


def text_size(value: Any, limit: int = MAX_OUTPUT, depth: int = 0) -> int:
    """About how many characters `str(value)` would be, without building it: exact
    enough for strings and numbers, an upper bound's worth for lists, tuples and dicts
    (a list of a thousand 10,000-character strings prints as 10 MB), and stopping
    early once past `limit`."""
    if isinstance(value, str):
        return len(value) + 2  # quotes, inside a container
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # digits, about: ints are bounded by `**`
    if isinstance(value, float):
        return 24
    if depth > 50:
        return limit + 1  # deeper than any manifest's data
    if isinstance(value, dict):
        items: Any = (x for pair in value.items() for x in pair)
    elif isinstance(value, _SEQUENCES):
        items = value
    else:
        return len(str(value))  # range(), a macro, Undefined: a short repr
    size = 2
    for item in items:
        size += text_size(item, limit, depth + 1) + 2
        if size > limit:
            break
    return size


def _str_size(value: Any) -> int:
    """How long `str(value)` would be (a string's own length: no quotes at the top)."""
    return len(value) if isinstance(value, str) else text_size(value)


def _check_text(value: Any, what: str = "value") -> None:
    """Before a list or dict is turned into text: not if the text would be huge."""
    if not isinstance(value, _SCALARS) and text_size(value) > MAX_OUTPUT:
        raise SecurityError(f"{what} too large to print (over {MAX_OUTPUT:,} characters)")


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` passes here before it is turned into text."""
    _check_text(value)
    return value


def bounded_concat(parts: Any, limit: int = MAX_OUTPUT) -> str:
    """What a template, block or macro prints: `"".join`, stopped at `limit` characters
    rather than after a loop has printed gigabytes into a list."""
    out, size = [], 0
    for part in parts:
        size += len(part)
        if size > limit:
            raise SecurityError(f"the output is too large (over {limit:,} characters)")
        out.append(part)
    return "".join(out)


def render(template: jinja2.Template, context: dict[str, Any], source: str) -> str:
    """`template.render(context)`, printing at most MAX_OUTPUT characters more than its
    own source (a long literal prompt is the prompt check's to refuse, by its length)."""
    return bounded_concat(template.generate(context), MAX_OUTPUT + len(source))


class _Buffer(list):  # type: ignore[type-arg]
    """Where a block, macro or `{% set %}` block collects what it prints: a list that
    refuses to grow past MAX_OUTPUT characters (a loop inside one would otherwise fill it
    with gigabytes before anything is joined)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, part: Any) -> None:
        self._grow(part)
        super().append(part)

    def extend(self, parts: Any) -> None:
        for part in parts:
            self.append(part)

    def _grow(self, part: Any) -> None:
        self.size += len(part) if isinstance(part, str) else len(str(part))
        if self.size > MAX_OUTPUT:
            raise SecurityError(f"the output is too large (over {MAX_OUTPUT:,} characters)")


def _str_join(values: Any) -> str:
    """The `~` operator (`a ~ b ~ c`), bounded like `+`."""
    for value in values:
        _check_text(value)
    parts = [str(value) for value in values]
    if sum(map(len, parts)) > MAX_OUTPUT:
        raise SecurityError(f"string too large (over {MAX_OUTPUT:,} characters)")
    return "".join(parts)


class _CodeGenerator(CodeGenerator):
    def buffer(self, frame: Frame) -> None:
        """A block's output collects in a bounded list (`_Buffer`), not a plain one."""
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`~` joins through the environment (`_str_join`), not jinja's unbounded one."""
        self.write("environment.str_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%", "+"])
    code_generator_class = _CodeGenerator
    concat = staticmethod(bounded_concat)  # compiled templates print through it
    str_join = staticmethod(_str_join)
    output_buffer = _Buffer

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr not in _REFUSED_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float):
            base_bits = left.bit_length() if isinstance(left, int) else 64
            if abs(right) > 100 or base_bits * abs(right) > 40_000:  # one C call: no timer
                raise SecurityError("power too large")
        if operator == "*":
            _check_repetition(left, right)
            _check_repetition(right, left)
            # squaring in a row: one C call each, which no timer interrupts
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and left.bit_length() + right.bit_length() > 40_000:
                raise SecurityError("number too large")
        if operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        if operator == "+":
            _check_addition(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """`'x'.ljust(10**9)`, `''.join(huge)`: bounded like `*`."""
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _PADDING_METHODS and any(
                isinstance(a, int) and a > MAX_TEXT for a in (*args, *kwargs.values())
            ):
                raise SecurityError(f"{name}() width too large")
            if name == "expandtabs":
                tab = args[0] if args else kwargs.get("tabsize", 8)
                if isinstance(tab, int) and len(owner) + owner.count("\t") * tab > MAX_TEXT:
                    raise SecurityError(f"expandtabs() result too large (over {MAX_TEXT:,})")
            if name == "join" and args:
                _check_join(owner, args[0])
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            if name == "translate" and args:
                _check_translate(owner, args[0])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """`'{:>999999999}'.format(x)`: check the widths before Python builds the string."""
        fmt = getattr(value, "__self__", None)
        if isinstance(fmt, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            with contextlib.suppress(ValueError):  # a malformed format fails on its own
                for _, _, spec, _ in string.Formatter().parse(fmt):
                    widths = [int(n) for n in re.findall(r"\d+", spec or "")]
                    if spec and ("{" in spec or max(widths, default=0) > MAX_TEXT):
                        raise SecurityError("format width too large")
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__  # a str: jinja wraps no other format method
        fields = len([name for _, name, _, _ in _fields(text) if name is not None])
        mapping = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> Any:
            values = [*kwargs.values(), *args]
            if mapping and len(args) == 1 and isinstance(args[0], dict):
                values = list(args[0].values())
            _check_fields(text, fields, values)
            return wrapped(*args, **kwargs)

        return bounded


def _fields(fmt: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(fmt))
    except ValueError:
        return []  # a malformed format fails on its own when it is used


def _check_fields(fmt: str, fields: int, values: Any) -> None:
    """`'{0}{0}'.format(a)` or `'%s%s' % (a, a)`, twenty lines in a row, doubles a string
    each time: bound the result by its fields times the longest value, before it is built."""
    longest = max(map(_str_size, values), default=0)
    if len(fmt) + fields * longest > MAX_OUTPUT:
        raise SecurityError(f"formatted string too large (over {MAX_OUTPUT:,} characters)")


def _check_percent(fmt: str, args: Any) -> None:
    """`fmt % args` (and the `format` filter, which does the same): `'%200000000s' % x`
    by its widths, `'%s%s' % (a, a)` by its size (each `%` counted as a field)."""
    for width, precision in _WIDTHS.findall(fmt):
        if "*" in (width, precision) or max(int(width or 0), int(precision or 0)) > MAX_TEXT:
            raise SecurityError("format width too large")
    if isinstance(args, dict):
        values = list(args.values())
    else:
        values = list(args) if isinstance(args, tuple) else [args]
    _check_fields(fmt, fmt.count("%"), values)


def _check_replace(text: str, old: Any, new: Any) -> None:
    grows = isinstance(old, str) and isinstance(new, str) and old
    if grows and len(text) + text.count(old) * (len(new) - len(old)) > MAX_TEXT:
        raise SecurityError(f"replace result too large (over {MAX_TEXT:,} characters)")


def _check_translate(text: str, table: Any) -> None:
    """`('x' * 9999).translate({120: 'y' * 9999})`: count before Python builds it."""
    if isinstance(table, dict):
        values: Any = table.values()
    elif isinstance(table, list | tuple):
        values = table
    else:
        raise SecurityError("translate() takes a dict or a list here")
    longest = max((len(v) for v in values if isinstance(v, str)), default=1)
    if len(text) * longest <= MAX_TEXT:
        return
    size = 0
    for char in text:
        try:
            mapped = table[ord(char)]
        except LookupError:
            mapped = char
        size += len(mapped) if isinstance(mapped, str) else int(mapped is not None)
        if size > MAX_TEXT:
            raise SecurityError(f"translate result too large (over {MAX_TEXT:,} characters)")


def _check_addition(left: Any, right: Any) -> None:
    """`{% set b = a + a %}` doubles: twenty lines of it would want gigabytes."""
    strings = isinstance(left, str) and isinstance(right, str)
    if strings and len(left) + len(right) > MAX_OUTPUT:
        raise SecurityError(f"string too large (over {MAX_OUTPUT:,} characters)")
    lists = isinstance(left, list | tuple) and isinstance(right, list | tuple)
    if lists and len(left) + len(right) > MAX_TEXT:
        raise SecurityError(f"list too large (over {MAX_TEXT:,} items)")


def _check_join(separator: str, items: Any) -> None:
    if isinstance(items, str | list | tuple):
        total = sum(map(_str_size, items)) + len(separator) * max(0, len(items) - 1)
        if total > MAX_TEXT:
            raise SecurityError(f"join too large (over {MAX_TEXT:,} characters)")


def _bounded(filter_func: Any, width_args: tuple[int, ...]) -> Any:
    """A filter whose numeric arguments (widths) may not exceed MAX_TEXT."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if filter_func.__name__ == "do_indent" and args:
            _check_indent(args[0], *args[1:2], **{k: v for k, v in kwargs.items() if k == "width"})
        if filter_func.__name__ == "do_format" and args and isinstance(args[0], str):
            _check_percent(args[0], kwargs or tuple(args[1:]))  # as do_format applies it
        if filter_func.__name__ == "do_replace" and len(args) >= 4:  # (eval_ctx, s, old, new)
            _check_replace(str(args[1]), args[2], args[3])
        for i in width_args:
            if i < len(args) and isinstance(args[i], int) and args[i] > MAX_TEXT:
                raise SecurityError("width too large")
        if any(isinstance(v, int) and v > MAX_TEXT for v in kwargs.values()):
            raise SecurityError("width too large")
        result = filter_func(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_TEXT:
            raise SecurityError(f"result too large (over {MAX_TEXT:,} characters)")
        return result

    if hasattr(filter_func, "jinja_pass_arg"):
        bounded.jinja_pass_arg = filter_func.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _check_indent(text: Any, width: Any = 4) -> None:
    """`('\\n' * 9999) | indent(9999, blank=true)`: every line gets the indent."""
    _check_text(text)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(str(text)) + (str(text).count("\n") + 1) * pad > MAX_TEXT:
        raise SecurityError(f"indent result too large (over {MAX_TEXT:,} characters)")


def _text_filter(filter_func: Any) -> Any:
    """A filter that turns its subject into text (`upper`, `string`, ...): not a list or
    dict whose text would be huge."""
    index = 1 if hasattr(filter_func, "jinja_pass_arg") else 0

    def text_filter(*args: Any, **kwargs: Any) -> Any:
        if len(args) > index:
            _check_text(args[index])
        return filter_func(*args, **kwargs)

    if hasattr(filter_func, "jinja_pass_arg"):
        text_filter.jinja_pass_arg = filter_func.jinja_pass_arg  # type: ignore[attr-defined]
    return text_filter


def _check_repetition(seq: Any, count: Any) -> None:
    if (
        isinstance(seq, str | list | tuple)
        and isinstance(count, int)
        and not isinstance(count, bool)
        and len(seq) * count > MAX_TEXT
    ):
        raise SecurityError(f"repetition too large (over {MAX_TEXT:,} items)")


def _join_filter(join: Any) -> Any:
    def bounded_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)[: MAX_TEXT + 1]
        _check_join(str(d), items)
        return join(eval_ctx, items, d, attribute)

    bounded_join.jinja_pass_arg = join.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded_join


def make_environment() -> Sandbox:
    env = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, finalize=_finalize)
    env.filters = {name: env.filters[name] for name in _SAFE_FILTERS if name in env.filters}
    env.filters["slug"] = slug
    for name, widths in (("center", (1,)), ("indent", (1,)), ("format", ()), ("replace", ())):
        env.filters[name] = _bounded(env.filters[name], widths)
    for name in _TEXT_FILTERS:  # around _bounded, which knows a filter by its name
        env.filters[name] = _text_filter(env.filters[name])
    env.filters["join"] = _join_filter(env.filters["join"])
    env.globals = {"range": env.globals["range"]}
    return env


class RenderTimeout(Exception):
    pass


class RenderTimer:
    """A time budget per render, for templates that would loop for hours.

    The SIGALRM handler is installed once (`with timer:`) and each render only arms and
    disarms the interval timer. On a thread other than the main one, or a platform
    without setitimer, renders are unbounded in time (the size bounds still hold).
    """

    def __init__(self, seconds: float = RENDER_SECONDS, total: float = TOTAL_RENDER_SECONDS):
        self.seconds = seconds
        self.total = total
        self.spent = 0.0
        self._started = 0.0
        self._active = False
        self._previous: Any = None

    def __enter__(self) -> RenderTimer:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self._previous = signal.signal(signal.SIGALRM, self._expired)
            self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self._active = False

    def arm(self) -> None:
        """Start a render; refuse it if the templates have had their total already."""
        if self.spent > self.total:
            raise RenderTimeout(f"the templates ran for more than {self.total:g}s in all")
        self._started = time.perf_counter()
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, min(self.seconds, self.total - self.spent))

    def disarm(self) -> None:
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.spent += time.perf_counter() - self._started

    def _expired(self, signum: int, frame: Any) -> None:
        raise RenderTimeout(f"the template ran for more than {self.seconds:g}s")

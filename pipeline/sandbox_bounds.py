"""The sandbox's size accounting: how big a value's text, a join, a format or a
replacement would be, worked out before Python builds it, and the checks that refuse
what would be too big. Every refusal is a `SecurityError`; `sandbox` reports them all as
"refused by the template sandbox".
"""

from __future__ import annotations

import contextlib
import re
import string
from typing import Any

from jinja2.sandbox import SecurityError

MAX_TEXT = 10_000  # no string a template builds needs to be longer than a prompt
MAX_OUTPUT = 10 * MAX_TEXT  # what a template prints, or joins with `~` / `+`: room for
# whitespace that is trimmed afterwards, and still nothing that memory would notice
MAX_INT_BITS = 40_000  # `**` and `*` of ints: one C call each, which no timer interrupts

_WIDTHS = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
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
_JOINABLE = (str, dict, *_SEQUENCES)


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


def str_size(value: Any) -> int:
    """How long `str(value)` would be (a string's own length: no quotes at the top)."""
    return len(value) if isinstance(value, str) else text_size(value)


def check_text(value: Any, what: str = "value") -> None:
    """Before a list or dict is turned into text: not if the text would be huge."""
    if not isinstance(value, _SCALARS) and text_size(value) > MAX_OUTPUT:
        raise SecurityError(f"{what} too large to print (over {MAX_OUTPUT:,} characters)")


def capped(result: Any) -> Any:
    """What a bounded filter returns: a backstop after the checks made before it ran."""
    if isinstance(result, str) and len(result) > MAX_TEXT:
        raise SecurityError(f"result too large (over {MAX_TEXT:,} characters)")
    return result


def check_width(width: Any, name: str = "") -> None:
    """A padding width (`center`, `ljust`, ...): at most MAX_TEXT."""
    if isinstance(width, int) and width > MAX_TEXT:
        raise SecurityError(f"{name}() width too large" if name else "width too large")


# -- what a template prints ------------------------------------------------------------------


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


class OutputBuffer(list):  # type: ignore[type-arg]
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


def str_join(values: Any) -> str:
    """The `~` operator (`a ~ b ~ c`), bounded like `+`."""
    for value in values:
        check_text(value)
    parts = [str(value) for value in values]
    if sum(map(len, parts)) > MAX_OUTPUT:
        raise SecurityError(f"string too large (over {MAX_OUTPUT:,} characters)")
    return "".join(parts)


# -- operators -------------------------------------------------------------------------------


def check_power(base: Any, exponent: Any) -> None:
    """`((10**100)**100)**100`: one C call each, which no timer interrupts."""
    if isinstance(exponent, int | float):
        base_bits = base.bit_length() if isinstance(base, int) else 64
        if abs(exponent) > 100 or base_bits * abs(exponent) > MAX_INT_BITS:
            raise SecurityError("power too large")


def check_product(left: Any, right: Any) -> None:
    """`'x' * 10**9`, `[0] * n`, and squaring a number in a row."""
    check_repetition(left, right)
    check_repetition(right, left)
    ints = isinstance(left, int) and isinstance(right, int)
    if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise SecurityError("number too large")


def check_repetition(seq: Any, count: Any) -> None:
    if (
        isinstance(seq, str | list | tuple)
        and isinstance(count, int)
        and not isinstance(count, bool)
        and len(seq) * count > MAX_TEXT
    ):
        raise SecurityError(f"repetition too large (over {MAX_TEXT:,} items)")


def check_addition(left: Any, right: Any) -> None:
    """`{% set b = a + a %}` doubles: twenty lines of it would want gigabytes."""
    strings = isinstance(left, str) and isinstance(right, str)
    if strings and len(left) + len(right) > MAX_OUTPUT:
        raise SecurityError(f"string too large (over {MAX_OUTPUT:,} characters)")
    lists = isinstance(left, list | tuple) and isinstance(right, list | tuple)
    if lists and len(left) + len(right) > MAX_TEXT:
        raise SecurityError(f"list too large (over {MAX_TEXT:,} items)")


# -- formatting ------------------------------------------------------------------------------


def format_fields(fmt: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(fmt))
    except ValueError:
        return []  # a malformed format fails on its own when it is used


def check_format_widths(fmt: str) -> None:
    """`'{:>999999999}'.format(x)`: the widths in a `str.format` string, before Python
    builds the string (a nested `{...}` width is refused outright). Field by field: a
    format that is malformed further on still has its earlier fields built."""
    with contextlib.suppress(ValueError):  # a malformed format fails on its own
        for _, _, spec, _ in string.Formatter().parse(fmt):
            widths = [int(n) for n in re.findall(r"\d+", spec or "")]
            if spec and ("{" in spec or max(widths, default=0) > MAX_TEXT):
                raise SecurityError("format width too large")


def check_fields(fmt: str, fields: int, values: Any) -> None:
    """`'{0}{0}'.format(a)` or `'%s%s' % (a, a)`, twenty lines in a row, doubles a string
    each time: bound the result by its fields times the longest value, before it is built."""
    longest = max(map(str_size, values), default=0)
    if len(fmt) + fields * longest > MAX_OUTPUT:
        raise SecurityError(f"formatted string too large (over {MAX_OUTPUT:,} characters)")


def check_percent(fmt: str, args: Any) -> None:
    """`fmt % args` (and the `format` filter, which does the same): `'%200000000s' % x`
    by its widths, `'%s%s' % (a, a)` by its size (each `%` counted as a field)."""
    for width, precision in _WIDTHS.findall(fmt):
        if "*" in (width, precision) or max(int(width or 0), int(precision or 0)) > MAX_TEXT:
            raise SecurityError("format width too large")
    if isinstance(args, dict):
        values = list(args.values())
    else:
        values = list(args) if isinstance(args, tuple) else [args]
    check_fields(fmt, fmt.count("%"), values)


# -- what string methods and filters would build ---------------------------------------------


def check_replace(text: str, old: Any, new: Any) -> None:
    grows = isinstance(old, str) and isinstance(new, str) and old
    if grows and len(text) + text.count(old) * (len(new) - len(old)) > MAX_TEXT:
        raise SecurityError(f"replace result too large (over {MAX_TEXT:,} characters)")


def check_translate(text: str, table: Any) -> None:
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


def check_join(separator: str, items: Any) -> None:
    """`sep.join(items)` by the length of the items (a dict joins its keys)."""
    if isinstance(items, _JOINABLE):
        sized: Any = items  # str, dict, list, tuple, set or dict view: all sized
        total = sum(map(str_size, sized)) + len(separator) * max(0, len(sized) - 1)
        if total > MAX_TEXT:
            raise SecurityError(f"join too large (over {MAX_TEXT:,} characters)")


def check_expandtabs(text: str, tabsize: Any) -> None:
    if isinstance(tabsize, int) and len(text) + text.count("\t") * tabsize > MAX_TEXT:
        raise SecurityError(f"expandtabs() result too large (over {MAX_TEXT:,})")


def check_indent(text: Any, width: Any = 4) -> None:
    """`('\\n' * 9999) | indent(9999, blank=true)`: every line gets the indent."""
    check_text(text)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(str(text)) + (str(text).count("\n") + 1) * pad > MAX_TEXT:
        raise SecurityError(f"indent result too large (over {MAX_TEXT:,} characters)")

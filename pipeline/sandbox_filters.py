"""The bounded operations of the sandbox, one wrapper each, by their own argument names.

`bounded_filters` wraps Jinja's filters: each wrapper has the filter's own parameters,
works out (with `sandbox_bounds`) what the filter would build from them, refuses it if it
would be too big, and only then calls Jinja's filter. `STR_METHODS` does the same for
the `str` methods that pad, join, replace or translate, which `Sandbox.call` checks
before it calls them.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any

import jinja2

from . import sandbox_bounds as sb

Filter = Callable[..., Any]


# -- filters ---------------------------------------------------------------------------------


def _center(inner: Filter) -> Filter:
    def center(value: Any, width: Any = 80) -> Any:
        sb.check_text(value)
        sb.check_width(width)
        return sb.capped(inner(value, width))

    return center


def _indent(inner: Filter) -> Filter:
    def indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
        sb.check_indent(s, width)
        return sb.capped(inner(s, width, first, blank))

    return indent


def _format(inner: Filter) -> Filter:
    def format(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            sb.check_percent(value, kwargs or args)  # as do_format applies it
        return sb.capped(inner(value, *args, **kwargs))

    return format


def _replace(inner: Filter) -> Filter:
    @jinja2.pass_eval_context
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        sb.check_text(s)
        sb.check_replace(str(s), old, new)
        return sb.capped(inner(eval_ctx, s, old, new, count))

    return replace


def _join(inner: Filter) -> Filter:
    @jinja2.pass_eval_context
    def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        items = list(itertools.islice(value, sb.MAX_TEXT + 1))
        sb.check_join(str(d), items)
        return inner(eval_ctx, items, d, attribute)

    return join


def _truncate(inner: Filter) -> Filter:
    @jinja2.pass_environment
    def truncate(env: Any, s: Any, *args: Any, **kwargs: Any) -> Any:
        sb.check_text(s)
        return inner(env, s, *args, **kwargs)

    return truncate


def _text(inner: Filter) -> Filter:
    """A filter with no context argument that turns its subject into text (`upper`,
    `string`, ...): not a list or dict whose text would be huge."""

    def text_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
        sb.check_text(value)
        return inner(value, *args, **kwargs)

    return text_filter


_WRAPPERS: dict[str, Callable[[Filter], Filter]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "replace": _replace,
    "join": _join,
    "truncate": _truncate,
    **{
        name: _text
        for name in ("capitalize", "lower", "slug", "string", "title", "trim", "upper", "wordcount")
    },
}


def bounded_filters(filters: dict[str, Filter]) -> dict[str, Filter]:
    """`filters` with each bounded one wrapped (the others as they are)."""
    return {
        name: _WRAPPERS[name](inner) if name in _WRAPPERS else inner
        for name, inner in filters.items()
    }


# -- str methods -----------------------------------------------------------------------------


def _pad(name: str) -> Callable[..., None]:
    def check(text: str, width: Any, fillchar: Any = " ", /) -> None:
        sb.check_width(width, name)

    return check


def _zfill(text: str, width: Any, /) -> None:
    sb.check_width(width, "zfill")


def _expandtabs(text: str, tabsize: Any = 8) -> None:
    sb.check_width(tabsize, "expandtabs")
    sb.check_expandtabs(text, tabsize)


def _str_join(text: str, iterable: Any, /) -> None:
    sb.check_join(text, iterable)


def _str_replace(text: str, old: Any, new: Any, count: Any = -1, /) -> None:
    sb.check_replace(text, old, new)


def _translate(text: str, table: Any, /) -> None:
    sb.check_translate(text, table)


class StrMethod:
    """A check on a `str` method's arguments, declared with that method's signature (so
    it finds each argument by name, however the template passed it)."""

    __slots__ = ("check", "signature")

    def __init__(self, check: Callable[..., None]) -> None:
        self.check = check
        self.signature = inspect.signature(check)

    def __call__(self, text: str, *args: Any, **kwargs: Any) -> None:
        try:
            bound = self.signature.bind(text, *args, **kwargs)
        except TypeError:
            return  # arguments the method refuses itself, in its own words
        self.check(*bound.args, **bound.kwargs)


STR_METHODS: dict[str, StrMethod] = {
    "ljust": StrMethod(_pad("ljust")),
    "rjust": StrMethod(_pad("rjust")),
    "center": StrMethod(_pad("center")),
    "zfill": StrMethod(_zfill),
    "expandtabs": StrMethod(_expandtabs),
    "join": StrMethod(_str_join),
    "replace": StrMethod(_str_replace),
    "translate": StrMethod(_translate),
}

"""The template sandbox: what a manifest's Jinja may do, and how much of it.

`ImmutableSandboxedEnvironment` (no attribute tricks, no mutating lists in a loop) with
`StrictUndefined`, an explicit filter list and no loader (so no include/import/extends
of files); `*`, `**`, `%` and `str.format` are bounded by the size of what they would
build, and each render runs under a time budget, so no template can exhaust memory or
hang a build. Whatever goes wrong in a user's template is reported against it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import string
import threading
import unicodedata
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_TEXT = 10_000  # no string a template builds needs to be longer than a prompt
RENDER_SECONDS = 2.0

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
_WIDTHS = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


@functools.lru_cache(maxsize=8192)
def slug(value: Any) -> str:
    """`Pour-Over Kit!` -> `pour-over-kit`: ASCII, lowercase, safe in a file name."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text or "x"


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float):
            base_bits = left.bit_length() if isinstance(left, int) else 64
            if abs(right) > 100 or base_bits * abs(right) > 40_000:  # one C call: no timer
                raise SecurityError("power too large")
        if operator == "*":
            _check_repetition(left, right)
            _check_repetition(right, left)
        if operator == "%" and isinstance(left, str):
            for width, precision in _WIDTHS.findall(left):
                if (
                    "*" in (width, precision)
                    or max(int(width or 0), int(precision or 0)) > MAX_TEXT
                ):
                    raise SecurityError("format width too large")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        """`'{:>999999999}'.format(x)`: check the widths before Python builds the string."""
        fmt = getattr(value, "__self__", None)
        if isinstance(fmt, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            with contextlib.suppress(ValueError):  # a malformed format fails on its own
                for _, _, spec, _ in string.Formatter().parse(fmt):
                    widths = [int(n) for n in re.findall(r"\d+", spec or "")]
                    if spec and ("{" in spec or max(widths, default=0) > MAX_TEXT):
                        raise SecurityError("format width too large")
        return super().wrap_str_format(value)


def _check_repetition(seq: Any, count: Any) -> None:
    if (
        isinstance(seq, str | list | tuple)
        and isinstance(count, int)
        and not isinstance(count, bool)
        and len(seq) * count > MAX_TEXT
    ):
        raise SecurityError(f"repetition too large (over {MAX_TEXT:,} items)")


def make_environment() -> Sandbox:
    env = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters = {name: env.filters[name] for name in _SAFE_FILTERS if name in env.filters}
    env.filters["slug"] = slug
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

    def __init__(self, seconds: float = RENDER_SECONDS):
        self.seconds = seconds
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
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _expired(self, signum: int, frame: Any) -> None:
        raise RenderTimeout(f"the template ran for more than {self.seconds:g}s")

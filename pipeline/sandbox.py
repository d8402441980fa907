"""The template sandbox: what a manifest's Jinja may do, and how much of it.

`ImmutableSandboxedEnvironment` (no attribute tricks, no mutating lists in a loop) with
`StrictUndefined`, an explicit filter list and no loader (so no include/import/extends
of files); `*`, `**`, `%`, `+`, `~`, `str.format` and the string methods that pad, join,
replace or translate are bounded by the size of what they would build, and so is what a
template (or a block, a macro, a `{% set %}` block) prints; nothing can make bytes; each
render runs under a time budget. So no template can exhaust memory or hang a build, and
whatever goes wrong in a user's template is reported against it.

Here: the environment and its hooks, and the time budget. The size accounting is in
`sandbox_bounds`; the wrapper of each bounded filter and `str` method in `sandbox_filters`.
"""

from __future__ import annotations

import functools
import re
import signal
import threading
import time
import unicodedata
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .sandbox_bounds import (
    MAX_OUTPUT,
    OutputBuffer,
    bounded_concat,
    check_addition,
    check_fields,
    check_format_widths,
    check_percent,
    check_power,
    check_product,
    check_text,
    format_fields,
    str_join,
)
from .sandbox_filters import STR_METHODS, bounded_filters

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
# Bytes have every padding and joining method of str, unchecked; a prompt needs none.
_REFUSED_ATTRIBUTES = frozenset({"encode", "to_bytes"})


@functools.lru_cache(maxsize=8192)
def slug(value: Any) -> str:
    """`Pour-Over Kit!` -> `pour-over-kit`: ASCII, lowercase, safe in a file name."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text or "x"


def _finalize(value: Any) -> Any:
    """Every `{{ value }}` passes here before it is turned into text."""
    check_text(value)
    return value


def render(template: jinja2.Template, context: dict[str, Any], source: str) -> str:
    """`template.render(context)`, printing at most MAX_OUTPUT characters more than its
    own source (a long literal prompt is the prompt check's to refuse, by its length)."""
    return bounded_concat(template.generate(context), MAX_OUTPUT + len(source))


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with every output buffer and every `~` bounded.

    Not public API: Jinja documents `Environment.code_generator_class` as the way to
    change the code a template compiles to, but not the generator's methods. This relies
    on Jinja 3.1's `CodeGenerator.buffer(frame)` being where every block, macro, call
    block, filter block and `{% set %}` block gets its buffer (it sets `frame.buffer` to a
    name and writes `name = []`), on the generated code only calling `.append` and
    `.extend` on that name and then `concat(name)` (with `concat = environment.concat`),
    and on `visit_Concat` being what compiles `~`. tests/test_sandbox.py
    (test_jinja_still_compiles_through_the_sandbox_hooks) reads the compiled code and
    fails, naming this class, if a Jinja release stops doing so.
    """

    def buffer(self, frame: Frame) -> None:
        """A block's output collects in a bounded list (`OutputBuffer`), not a plain one."""
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`~` joins through the environment (`str_join`), not jinja's unbounded one."""
        self.write("environment.str_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%", "+"])
    code_generator_class = _CodeGenerator
    # Not documented by Jinja: compiled templates join a buffer with `environment.concat`.
    concat = staticmethod(bounded_concat)
    str_join = staticmethod(str_join)
    output_buffer = OutputBuffer

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr not in _REFUSED_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            check_power(left, right)
        elif operator == "*":
            check_product(left, right)
        elif operator == "%" and isinstance(left, str):
            check_percent(left, right)
        elif operator == "+":
            check_addition(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """`'x'.ljust(10**9)`, `''.join(huge)`: bounded like `*`."""
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            check = STR_METHODS.get(getattr(__obj, "__name__", ""))
            if check is not None:
                check(owner, *args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """`'{:>999999999}'.format(x)`: check the widths before Python builds the string,
        and the size of the result before each call."""
        fmt = getattr(value, "__self__", None)
        if isinstance(fmt, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            check_format_widths(fmt)
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__  # a str: jinja wraps no other format method
        fields = len([name for _, name, _, _ in format_fields(text) if name is not None])
        mapping = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> Any:
            values = [*kwargs.values(), *args]
            if mapping and len(args) == 1 and isinstance(args[0], dict):
                values = list(args[0].values())
            check_fields(text, fields, values)
            return wrapped(*args, **kwargs)

        return bounded


def make_environment() -> Sandbox:
    env = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, finalize=_finalize)
    filters = {name: env.filters[name] for name in _SAFE_FILTERS if name in env.filters}
    env.filters = bounded_filters({**filters, "slug": slug})
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

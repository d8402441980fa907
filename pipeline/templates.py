"""The manifest's templates: each compiled once, rendered in the sandbox (sandbox.py)
under one time budget, and each failure said once per asset and template, however many
combinations of its matrix share it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SecurityError

from .errors import ManifestError, Problem
from .load import PathT
from .sandbox import RenderTimeout, RenderTimer, make_environment, render

Combo = tuple[tuple[str, Any], ...]  # one combination of an asset's matrix: (key, value)...


@dataclass
class Template:
    template: jinja2.Template | None
    path: PathT
    uses_size: bool = True  # does it read `size`? (if not, one render serves every size)
    source: str = ""


class Templates:
    """Compiles and renders; what fails is added to `problems` (the expansion's own list,
    where a repeated failure's line is updated in place), through `problem`."""

    def __init__(self, problems: list[Problem], problem: Callable[[PathT, str], None]) -> None:
        self.env = make_environment()
        self.timer = RenderTimer()
        self.problems = problems
        self.problem = problem
        self._compiled: dict[tuple[PathT, str], Template] = {}
        self._rendering: dict[tuple[PathT, str, str, str], tuple[int, str, int]] = {}

    def compile(self, source: str, path: PathT) -> Template:
        cache_key = (path, source)
        if cache_key in self._compiled:
            return self._compiled[cache_key]
        result = Template(None, path, source=source)
        try:
            ast = self.env.parse(source)
            forbidden = next(
                iter(ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))),
                None,
            )
            if forbidden is not None:
                tag = type(forbidden).__name__.lower().replace("fromimport", "from-import")
                self.problem(
                    path,
                    f"`{tag}` is not allowed in templates: a template can "
                    "only use the manifest's own values",
                )
            else:
                # from the tree already parsed (from_string would parse the source again)
                code = self.env.compile(ast)
                result.template = self.env.template_class.from_code(
                    self.env, code, self.env.make_globals(None)
                )
                result.uses_size = "size" in meta.find_undeclared_variables(ast)
        except jinja2.TemplateSyntaxError as exc:
            self.problem(
                path, f"template syntax error{_line_hint(source, exc.lineno)}: {exc.message}"
            )
        except (SyntaxError, RecursionError, MemoryError):  # Python refused the compiled code
            self.problem(path, "template syntax error: the template is nested too deeply")
        self._compiled[cache_key] = result
        return result

    def render(self, tpl: Template, context: dict[str, Any], combo: Combo = ()) -> str | None:
        if tpl.template is None:
            return None
        try:
            self.timer.arm()
            try:
                return render(tpl.template, context, tpl.source)
            finally:
                self.timer.disarm()
        except jinja2.UndefinedError as exc:
            names = ", ".join(sorted(k for k in context if k != "brand"))
            self.render_problem(
                tpl, context, combo, exc.message or "", f"(available: brand, {names})"
            )
        except (SecurityError, RenderTimeout) as exc:
            self.render_problem(tpl, context, combo, "refused by the template sandbox", f": {exc}")
            if self.timer.spent > self.timer.total:
                raise ManifestError(self.problems) from None  # no time left for the rest
        except RecursionError:
            self.render_problem(tpl, context, combo, "template error", ": it recurses too deeply")
        except MemoryError:
            self.render_problem(
                tpl, context, combo, "template error", ": it builds too much to hold in memory"
            )
        except Exception as exc:  # anything a user's template does wrong is the template's
            detail = str(exc) or type(exc).__name__
            self.render_problem(tpl, context, combo, "template error", f": {detail}")
        return None

    def render_problem(
        self,
        tpl: Template,
        context: dict[str, Any],
        combo: Combo,
        what: str,
        detail: str,
    ) -> None:
        """A template that failed to render, said once per asset: the first combination
        that failed, and how many more did the same (a 6x4 matrix is one line, not 24).
        A template under `templates:` is shared, so the line names the asset. The line
        reads `{what}[ for asset 'id'][ (with k=v, ...)]{detail}`."""
        asset = context.get("asset")
        at = f" for asset {asset!r}" if tpl.path[0] == "templates" and asset else ""
        seen = (tpl.path, at, what, detail)
        if seen in self._rendering:
            index, text, more = self._rendering[seen]
            more += 1
            self._rendering[seen] = (index, text, more)
            noun = "combination" if more == 1 else "combinations"
            self.problems[index] = replace(
                self.problems[index], message=f"{text}; and {more} more {noun}"
            )
            return
        space = " " if detail.startswith("(") else ""
        text = f"{what}{at}{combo_hint(combo)}{space}{detail}"
        self._rendering[seen] = (len(self.problems), text, 0)
        self.problem(tpl.path, text)


def combo_hint(combo: Combo) -> str:
    """` (with flavour=sencha, season=spring)`: one line, however odd the values."""
    if not combo:
        return ""
    shown = []
    for k, v in combo:
        text = str(v)
        if len(text) > 40 or not text.isprintable():
            text = repr(text[:37] + "..." if len(text) > 40 else text)
        shown.append(f"{k}={text}")
    return f" (with {', '.join(shown)})"


def _line_hint(source: str, lineno: int | None) -> str:
    return f" on line {lineno} of the template" if lineno and "\n" in source.strip() else ""

"""The shape issue 13 asks of pipeline/: no import cycle, no module over 400 lines, no
function over 50. Read from the source with ast, so a new cycle or a long function fails
here, named, before review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
# Exceptions to the limits below, each with its reason; none since issue 13.
KNOWN_LONG: set[str] = set()
KNOWN_CYCLES: list[list[str]] = []


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports when it runs: at the top or inside a
    function, not under `if TYPE_CHECKING:` (never run: a type's import is no cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}" if module else base
            for alias in node.names:  # a submodule, or a name read from the module
                sub = f"{module}.{alias.name}"
                targets.add(sub if sub in known else module)
    return {t for t in targets if t in known and t != name}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    edges = graph()
    assert "pipeline.workflow" in edges["pipeline.cli"]  # imported inside a command
    assert "pipeline.providers.base" in edges["pipeline.providers.runware"]  # `from .base`
    assert "pipeline.errors" in edges["pipeline.providers.runware"]  # `from ..errors`


def test_cycles_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    assert [c for c in cycles(graph()) if c not in KNOWN_CYCLES] == []


def test_no_module_over_400_lines() -> None:
    long = {
        name: len(path.read_text("utf-8").splitlines())
        for name, path in modules().items()
        if name not in KNOWN_LONG
    }
    assert {name: n for name, n in long.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_over_50_lines() -> None:
    long = {}
    for name, path in modules().items():
        if name in KNOWN_LONG:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{name}:{node.lineno} {node.name}"] = lines
    assert long == {}


def environment_writes(source: str) -> list[int]:
    """The lines that set, delete or update os.environ (or call os.putenv/unsetenv)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        target: ast.AST | None = None
        if isinstance(node, (ast.Assign, ast.Delete)):
            target = next((t for t in node.targets if isinstance(t, ast.Subscript)), None)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
            target = node.target
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if ast.unparse(node.func) in {"os.putenv", "os.unsetenv"}:
                lines.append(node.lineno)
            elif node.func.attr in {"update", "setdefault", "pop", "clear", "popitem"}:
                target = node.func
        holder = getattr(target, "value", None)  # x of x[key], x.update
        if holder is not None and ast.unparse(holder) == "os.environ":
            lines.append(node.lineno)
    return sorted(lines)


def test_environment_writes_are_found() -> None:
    probe = (
        'import os\nos.environ["A"] = "1"\nos.environ.update(B="2")\ndel os.environ["A"]\n'
        'os.environ.get("C")\nos.putenv("D", "4")\nenv = dict(os.environ)\nenv["E"] = "5"\n'
    )
    assert environment_writes(probe) == [2, 3, 4, 6]


def test_nothing_in_pipeline_writes_the_environment() -> None:
    """Settings go down as values (issue 13, item 4): the environment is read at the
    edge (cli.Context), never written for another module to read back."""
    writes = {
        name: lines
        for name, path in modules().items()
        if (lines := environment_writes(path.read_text("utf-8")))
    }
    assert writes == {}


# The flow's stages in order, each with the modules that belong to it. A module may
# import from its own stage or an earlier one, never a later one, not even for a type
# under TYPE_CHECKING (a type from a later stage means the data flows backwards).
STAGES = [
    ("load", {"pipeline.load", "pipeline.yaml_bounds"}),
    (
        "validate",
        {"pipeline.manifest", "pipeline.validated", "pipeline.hints", "pipeline.schema_messages"},
    ),
    (
        "expand",
        {
            "pipeline.expand",
            "pipeline.candidates",
            "pipeline.templates",
            "pipeline.output_paths",
            "pipeline.presets",
            "pipeline.sandbox",
            "pipeline.sandbox_bounds",
            "pipeline.sandbox_filters",
        },
    ),
    # the shared remote cache: a tier behind the local cache, which plan may ask
    ("remote cache", {"pipeline.remote_config", "pipeline.remote_store", "pipeline.remote_cache"}),
    (
        "plan",
        {
            "pipeline.plan",
            "pipeline.approval",
            "pipeline.paid_words",
            "pipeline.reasons",
            "pipeline.moves",
        },
    ),
    (
        "execute",
        {
            "pipeline.execute",
            "pipeline.obtain",
            "pipeline.realise",
            "pipeline.cutpool",
            "pipeline.derive",
            "pipeline.derive_fit",
            "pipeline.svg_render",
            "pipeline.svg_worker",
            "pipeline.session",
            "pipeline.results",
            "pipeline.remote_claims",
        },
    ),
    ("publish", {"pipeline.publish", "pipeline.history", "pipeline.output_log"}),
    ("review", {"pipeline.review_data", "pipeline.review_page"}),
]


def all_imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of the package that `name` imports, TYPE_CHECKING blocks included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = f"{base}.{node.module}" if node.module else base
            targets.update(
                f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                for a in node.names
            )
        elif isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
    return {t for t in targets if t in known and t != name}


def later_stage_imports() -> list[str]:
    known = modules()
    stage_of = {m: i for i, (_, members) in enumerate(STAGES) for m in members}
    found = []
    for name, path in known.items():
        if name not in stage_of:
            continue
        for target in sorted(all_imports(name, path, known)):
            if stage_of.get(target, -1) > stage_of[name]:
                found.append(f"{name} imports {target}")
    return found


def test_no_stage_imports_a_later_stage() -> None:
    assert later_stage_imports() == []


def test_the_stage_list_names_real_modules() -> None:
    """A module renamed away from STAGES would silently leave the check above."""
    known = modules()
    assert {m for _, members in STAGES for m in members} - set(known) == set()

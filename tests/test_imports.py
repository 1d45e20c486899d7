"""The project's import graph: no cycles anywhere, and `retrieval/` stays free of the bot.

Every import statement counts, wherever it is (module level, `if TYPE_CHECKING:`,
function bodies): a cycle hidden in a function body or a type hint is still a
cycle the next refactor trips over. `from pkg import name` is an edge to
`pkg.name` when that is a submodule, else to `pkg`. The parent package that
Python imports implicitly on the way to a submodule is not an edge: counting it
would make every package `__init__` that re-exports its submodules a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("retrieval", "bot", "bench", "tests")
FORBIDDEN_IN_RETRIEVAL = {"discord", "bot", "apscheduler"}

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path for tree in TREES for path in sorted((ROOT / tree).rglob("*.py"))
    }


def imported_names(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module, names, level) for every import statement in the file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", [alias.name for alias in node.names], node.level


def resolve(
    importer: str, path: Path, module: str, level: int, modules: dict[str, Path]
) -> str | None:
    """The project module an import statement names, or None for a third-party one."""
    if level:
        package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
        base = package[: len(package) - (level - 1)]
        module = ".".join([*base, module] if module else base)
    elif importer.startswith("bench.") and f"bench.{module}" in modules:
        module = f"bench.{module}"  # bench scripts import their siblings from the script dir
    parts = module.split(".")
    for n in range(len(parts), 0, -1):  # `import a.b.c` where only a.b is ours
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> Graph:
    modules = project_modules()
    graph: Graph = {name: set() for name in modules}
    for importer, path in modules.items():
        for module, names, level in imported_names(path):
            target = resolve(importer, path, module, level, modules)
            if target is None:
                continue
            submodules = {f"{target}.{name}" for name in names} & modules.keys()
            # `from pkg import sub, Thing`: an edge to the submodule, and to pkg for Thing.
            if len(submodules) < len(names) or not names:
                graph[importer].add(target)
            graph[importer] |= submodules
        graph[importer].discard(importer)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as a path that starts and ends at the same module, or None."""
    state: dict[str, str] = {}  # "open" while on the DFS stack, "done" after
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"x": {"y"}, "y": {"z"}, "z": {"y"}}, ["y", "z", "y"]),
    ],
)
def test_find_cycle(graph: Graph, cycle: list[str] | None):
    assert find_cycle(graph) == cycle


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "retrieval.corpus" in graph["retrieval"]  # from .corpus import Corpus
    assert "retrieval.answer" in graph["retrieval.corpus"]  # from . import answer as answering
    assert "retrieval" not in graph["retrieval.corpus"]  # ... which is not an edge to the package
    assert "bench.data" in graph["bench.ingest"]  # a bench script's sibling
    assert "bot.handlers" in graph["bot.console"]  # from . import handlers
    assert "retrieval.countries" in graph["bot.handlers"]  # imported inside a function


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_retrieval_never_imports_the_bot_or_discord():
    offenders = []
    for path in sorted((ROOT / "retrieval").rglob("*.py")):
        for module, _, level in imported_names(path):
            if not level and module.split(".")[0] in FORBIDDEN_IN_RETRIEVAL:
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, offenders

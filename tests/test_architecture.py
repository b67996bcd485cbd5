"""The code's shape, checked: module sizes, no import cycles, no private third-party internals."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "reverie"
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(tree: ast.Module, package: str, known: set[str]) -> set[str]:
    """Reverie modules ``tree`` imports (at any depth, except under ``if TYPE_CHECKING``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = dict(modules())
    known = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A package's own __init__ importing its submodules is how it exports them, not a cycle.
        graph[name] = {m for m in imported_modules(tree, package, known) if m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def without_package_exports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges from a package to its own submodules (re-exports in ``__init__``)."""
    return {
        name: {t for t in targets if not t.startswith(name + ".")}
        for name, targets in graph.items()
    }


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for _, path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_modules_import_each_other_without_cycles() -> None:
    assert cycles(without_package_exports(import_graph())) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


PRIVATE = [
    re.compile(
        r"^\s*(from|import)\s+(langgraph|langchain\w*|psycopg\w*|procrastinate|pydantic)"
        r"\S*\._"
    ),  # fmt: skip
    re.compile(
        r"^\s*from\s+(langgraph|langchain\w*|psycopg\w*|procrastinate)\S*\s+import\s+.*\b_\w"
    ),
    # The hidden protocols and private attributes Reverie once used (as a plain grep finds them).
    re.compile(r"_internal|\._store\b|\._data\b|\._cursor|getattr\(store"),
    # A private attribute reached by name, of any library (the standard library's too).
    re.compile(r"getattr\([^,]+,\s*[\"']_[a-z]"),
]


def test_no_private_internals_of_other_libraries() -> None:
    hits = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for _, path in modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(p.search(line) for p in PRIVATE)
    ]
    assert not hits, "\n".join(hits)

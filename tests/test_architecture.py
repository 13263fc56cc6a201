"""Structural checks on the ``pytest_clipbias`` package.

Import graph
    Every module is parsed with :mod:`ast`; only *module-level* imports
    (statements not nested in a function) build the intra-package graph.
    Imports inside functions are deferred on purpose (heavy dependencies,
    lazy loading) and are allowed to point anywhere.  Imports guarded by
    ``if TYPE_CHECKING:`` are never executed and are ignored as well.
    The graph must be acyclic.

Private names
    A name starting with ``_`` is private to its module.  A module may import
    a private name from another package module only when that module's own
    name starts with ``_`` (a private helper module such as
    ``assertions/_common.py`` or ``_io.py``) **and** it lives in the same
    subpackage as the importer (for the top level: the importer is a top-level
    module too).  Importing a private *module* by name (``from . import
    _common``) follows the same rule.

Function length
    No function in ``assertions/`` or ``report/`` is longer than 60 lines
    (``end_lineno - lineno``): helpers compose small parts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_clipbias

PKG_DIR = Path(pytest_clipbias.__file__).parent
PKG = "pytest_clipbias"
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {
        _module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
        for p in sorted(PKG_DIR.rglob("*.py"))
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements executed at import time (not in functions)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(modules) -> dict[str, list[tuple[str, str | None]]]:
    """module -> [(imported module, imported name or None)] inside the package."""
    edges: dict[str, list[tuple[str, str | None]]] = {m: [] for m in modules}
    for mod, (path, tree) in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in _module_level_imports(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            else:
                src = _resolve(mod, is_pkg, node)
                targets = []
                for alias in node.names:
                    sub = f"{src}.{alias.name}"
                    targets.append((sub, None) if sub in modules else (src, alias.name))
            for target, name in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith(PKG) and target != mod:
                    edges[mod].append((target, name))
    return edges


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _subpackage(module: str, modules) -> str:
    path, _ = modules[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def test_helpers_find_a_planted_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package():
    modules = _modules()
    graph = {m: {t for t, _ in targets} for m, targets in _edges(modules).items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    bad = []
    for mod, targets in _edges(modules).items():
        for target, name in targets:
            private_module = target.rpartition(".")[2].startswith("_") and not (
                target.endswith("__init__")
            )
            if name is not None and not name.startswith("_"):
                continue
            if name is None and not private_module:
                continue
            allowed = private_module and (
                _subpackage(mod, modules) == target.rpartition(".")[0]
            )
            if not allowed:
                bad.append(f"{mod} imports {target}{'.' + name if name else ''}")
    assert not bad, "private imports across modules:\n" + "\n".join(bad)


def test_functions_in_assertions_and_report_are_short():
    long = []
    for sub in ("assertions", "report"):
        for path in sorted((PKG_DIR / sub).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    size = node.end_lineno - node.lineno
                    if size > MAX_FUNCTION_LINES:
                        long.append(f"{sub}/{path.name}:{node.lineno} {node.name} ({size} lines)")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)

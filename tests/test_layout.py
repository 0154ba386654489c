"""The shape of the whole studio package, checked by reading its source: no module imports itself
back through others (function-level imports included), no two packages import each other, and
every function is about a screen long. A lower floor never reaching a higher one is what lets a
reader start at records.py and go up without meeting the rest."""
from __future__ import annotations

import ast
from pathlib import Path

from studio.paths import PROJECT_ROOT

STUDIO = PROJECT_ROOT / "studio"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Module -> the studio modules it imports anywhere in its file ("from studio.x import y" counts
    studio.x.y when that is a module, else studio.x)."""
    modules = {module_name(p): p for p in STUDIO.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[str]:
    def reaches(start, target, seen):
        return any(m == target or (m not in seen and reaches(m, target, seen | {m})) for m in graph.get(start, ()))

    return sorted(m for m in graph if reaches(m, m, {m}))


def test_no_module_imports_itself_back_through_others():
    assert cycles(import_graph()) == []


def test_no_two_parts_of_the_studio_import_each_other():
    """Parts: each package (studio.train, studio.write, studio.corpus, studio.ui) and each top module."""
    part = lambda m: ".".join(m.split(".")[:2])
    parts: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        parts.setdefault(part(name), set()).update(part(t) for t in targets if part(t) != part(name))
    assert cycles(parts) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]


def test_every_function_fits_on_a_screen():
    long = [f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in STUDIO.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60]
    assert long == []

"""The package's import graph: no module imports itself through others, and the wings stay apart.

Read from the source (every import statement, also those inside functions), so a lazy import
that closes a circle counts like a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "wattstream"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    """module → the wattstream modules it imports (a `from .pkg import name` of a submodule
    counts as that submodule)."""
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        out[name] = {d for d in deps if d in files and d != name}
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_the_detector_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    assert cycles(graph()) == []


def test_config_is_at_the_ground():
    """config imports only the ground modules (errors, specs), never a module built on it."""
    assert graph()["wattstream.config"] <= {"wattstream.errors", "wattstream.specs"}
    assert graph()["wattstream.specs"] <= {"wattstream.errors"}


WINGS = ("generator", "job", "analytics", "local", "view")
# The one crossing by design: the local stack shows the pipeline it runs through the view
# (`make run`, `wattstream watch`); the view knows nothing of the stack.
ALLOWED = {("local", "view")}


def test_the_wings_never_import_each_other():
    """generator, job, batch analytics, local stack and view meet only in cli.py, but for
    ALLOWED (the job may use baseline/, the batch side's fitted models, which is no wing)."""
    g = graph()
    crossings = []
    for mod, deps in g.items():
        wing = mod.split(".")[1] if mod.count(".") >= 1 else ""
        if wing not in WINGS:
            continue
        for d in deps:
            other = d.split(".")[1] if d.count(".") >= 1 else ""
            if other in WINGS and other != wing and (wing, other) not in ALLOWED:
                crossings.append(f"{mod} → {d}")
    assert crossings == []

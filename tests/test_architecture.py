"""The package's shape: imports point one way, no cycles, the layer contracts bite.

The contracts themselves live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked
by ``scripts/check``; these tests prove that the check fails on a forbidden import and add
what import-linter does not see: cycles inside one layer, function-level imports included.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "halo_automate"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every package module ``path`` imports, at any depth of the file (function-level and
    TYPE_CHECKING imports included: a cycle through them is still a cycle of meaning)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import sub`` is an edge to the submodule, not to pkg/__init__
            # (every submodule runs its package's __init__; that is no cycle of meaning).
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != me:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_cycle_finder_finds_a_planted_cycle() -> None:
    """The finder itself works: a three-module loop is one component, a tail is not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycle() -> None:
    """No two modules of the package import each other, directly or around a loop."""
    assert cycles(import_graph()) == []


def test_relative_and_function_level_imports_are_seen(tmp_path: Path) -> None:
    """Imports inside functions and relative imports count as edges."""
    graph = import_graph()
    assert "halo_automate.errors" in graph["halo_automate.core.outcome"]
    assert all(name.startswith("halo_automate") for deps in graph.values() for name in deps)


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/outcome.py", "import httpx", "pure-core"),
        ("core/outcome.py", "import sqlite3", "pure-core"),
        ("store/journal.py", "import rich", "presentation"),
        ("engine/runner.py", "import halo_automate.sandbox", "beside"),
        ("core/outcome.py", "import halo_automate.engine.runner", "layers"),
    ],
)
def test_the_check_fails_on_a_forbidden_import(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """A copy of the package with one forbidden import breaks exactly the contract that
    forbids it, and the untouched copy keeps every contract."""
    shutil.copytree(PACKAGE, tmp_path / "halo_automate")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def lint() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LINT_IMPORTS), "--no-cache", "--contract", contract],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    clean = lint()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    target = tmp_path / "halo_automate" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # planted\n")
    broken = lint()
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout and module.replace("/", ".").removesuffix(".py") in (
        broken.stdout
    )


MAX_MODULE_LINES = 450


def test_no_module_is_over_450_lines() -> None:
    """A module that grows past a screenful of screens is doing more than one thing."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}

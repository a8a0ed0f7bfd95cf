"""The pipeline's shape holds: layers (.importlinter) and no import cycle anywhere.

A cycle between two modules of one layer (report.html <-> report.outputs, say) is not a
layer violation, so it is checked here on grimp's import graph, the one lint-imports uses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from conftest import REPO


def _lint_imports() -> list[str]:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "importlinter.cli"]


def test_the_layer_contract_holds() -> None:
    done = subprocess.run(
        [*_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import cycle among analyzer's modules, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}
    for root in sorted(graph.modules):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                path = [n for n, _ in stack]
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
    return None


def test_no_module_imports_itself_round_a_cycle() -> None:
    graph = grimp.build_graph("analyzer", cache_dir=None)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycle(graph) == ["a.x", "a.y", "a.z", "a.x"]

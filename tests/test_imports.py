"""The project's import graph: no module imports itself through a circle, and no layer imports a layer above it.

Layers, lowest first: se1b (the error type and the command line) < model_cards, spaces_demo < datasets_builders
< training; inside training: model, objectives < data, evaluation < loop < publish, quickstart. The graph is read
from the source (every import statement, function-level ones included), so it needs no import to run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("se1b", "model_cards", "spaces_demo", "datasets_builders", "training")
RANK = {"se1b": 0, "model_cards": 1, "spaces_demo": 1, "datasets_builders": 2, "training": 3}
TRAINING_RANK = {"model": 0, "objectives": 0, "data": 1, "evaluation": 1, "loop": 2, "publish": 3, "quickstart": 3}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from package import name` counts as package.name when that is
    a module, else as the package)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {resolve(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[: len(package) - node.level + 1]
                    base = ".".join(package + ([base] if base else []))
                for alias in node.names:
                    name = f"{base}.{alias.name}"
                    targets.add(resolve(name) if name in modules else resolve(base))
        graph[module] = {t for t in targets if t and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    inner = TRAINING_RANK.get(parts[1], 0) if parts[0] == "training" and len(parts) > 1 else 0
    return RANK[parts[0]], inner


def test_find_cycle_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph(project_modules())
    assert len(graph) > 50 and graph["training.loop.train"]  # the graph was really read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_layer_imports_a_layer_above_it():
    graph = import_graph(project_modules())
    upward = [f"{module} -> {target}" for module, targets in graph.items() for target in targets
              if _rank(target)[0] > _rank(module)[0]
              or (module.split(".")[0] == target.split(".")[0] == "training" and _rank(target) > _rank(module))]
    assert not upward, upward


def test_a_ray_worker_runs_a_read_task_without_importing_datasets():
    """A fresh Ray worker imports the package, the task module and what a pickled source refers to (its reader, a
    miner's link) before its first row: none of it may pull in `datasets`, the publisher or the card templates
    (~0.3 s of each fresh worker's start-up). The package's public names resolve on first use, to what they name
    even once every submodule is loaded (a submodule named like an export would replace it)."""
    code = (
        "import sys, pkgutil, importlib\n"
        "import datasets_builders.tasks, datasets_builders.miners, datasets_builders.registry\n"
        "heavy = [m for m in ('datasets', 'datasets_builders.publishing', 'jinja2') if m in sys.modules]\n"
        "import datasets_builders as package\n"
        "for info in pkgutil.iter_modules(package.__path__):\n"
        "    importlib.import_module(f'datasets_builders.{info.name}')\n"
        "wrong = [name for name in package.__all__ if type(getattr(package, name)).__name__ == 'module']\n"
        "print(heavy, wrong, package.publish.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.splitlines()[-1] == "[] [] datasets_builders.publishing"

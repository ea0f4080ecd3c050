"""The package's layers, read from the source: the shared core knows no model, a model's params module knows only the
core, the tracking package knows no model, and no two modules import each other (directly or round a longer loop)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_stage_deps import SRC, imported_modules, module_file

PACKAGE = SRC / "rnnpipe"
MODELS = ("series", "forecaster", "charrnn")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts}
# `from a.b import c` names both a.b and a.b.c: keep only the modules that exist, as files
GRAPH = {name: {imported for imported in imported_modules(path) if imported in MODULES and imported != name}
         for name, path in MODULES.items()}


def in_package(name: str, package: str) -> bool:
    return name == f"rnnpipe.{package}" or name.startswith(f"rnnpipe.{package}.")


def test_the_graph_was_read():
    assert "rnnpipe.core.params" in GRAPH["rnnpipe.params"] and len(MODULES) > 40


@pytest.mark.parametrize("name", sorted(n for n in MODULES if in_package(n, "core")))
def test_the_core_imports_nothing_but_the_core(name):
    outside = sorted(m for m in GRAPH[name] if not in_package(m, "core"))
    assert outside == [], f"{name} imports {outside}: the shared core must not know a model, tracking or sweeps"


@pytest.mark.parametrize("name", sorted(f"rnnpipe.{m}.{leaf}" for m in MODELS for leaf in ("params", "descriptor")
                                        if f"rnnpipe.{m}.{leaf}" in MODULES))
def test_a_models_params_and_descriptor_import_only_the_core(name):
    """Every stage checks the whole params.yaml, so every model's params module is in every stage's deps: it must
    not pull the model's code in with it. (The forecaster's rules read the series' section: the one allowed link.)"""
    allowed = {"rnnpipe.series.params"} if name == "rnnpipe.forecaster.params" else set()
    outside = sorted(m for m in GRAPH[name] if not in_package(m, "core") and m not in allowed)
    assert outside == [], f"{name} imports {outside}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES
                                        if in_package(n, "tracking") and n != "rnnpipe.tracking.__main__"))
def test_tracking_knows_no_model(name):
    """Tracking reads a model's descriptor, handed to it by the stage; only its command line lists the models."""
    outside = sorted(m for m in GRAPH[name] if not (in_package(m, "core") or in_package(m, "tracking"))
                     and m != "rnnpipe")  # the package folder itself: logged beside each model as its code
    assert outside == [], f"{name} imports {outside}"


def test_no_module_imports_one_that_imports_it_back():
    pairs = sorted({tuple(sorted((a, b))) for a, targets in GRAPH.items() for b in targets if a in GRAPH.get(b, ())})
    assert pairs == [], f"modules that import each other: {pairs}"


def test_no_import_loop_at_all():
    """Tarjan's strongly connected components: every component is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
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
                loops.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert loops == [], f"import loops: {loops}"


def test_a_made_up_loop_is_found(tmp_path):
    """The graph reader sees function-level imports, which is where loops hide."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from rnnpipe.tracking import registry\n    return registry\n", encoding="utf-8")
    assert "rnnpipe.tracking.registry" in imported_modules(lazy)
    assert module_file("rnnpipe.tracking.registry") is not None

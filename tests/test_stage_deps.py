"""Every stage's code deps in dvc.yaml cover what the stage really imports, and no model's stage imports the other's.

The import closure is computed from the source (function-level imports included): the stage entry (rnnpipe.stage)
and the stage's code (stages/NAME.py), then every rnnpipe module they import, and theirs, plus the package __init__
files Python runs on the way.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
ENTRY = SRC / "rnnpipe" / "stage.py"
SIDES = {
    "shared": {"check_params"},
    "forecaster": {"prepare_series", "train_forecaster", "evaluate_forecaster", "forecast"},
    "charrnn": {"prepare_corpus", "train_charrnn", "evaluate_charrnn", "generate_text"},
}
# check_params checks the whole pipeline's inputs (params, CPU, corpus, prompt): it may read char-RNN code.
FORBIDDEN = {"shared": ("rnnpipe/forecaster/", "rnnpipe/series/"),
             "forecaster": ("rnnpipe/charrnn/",), "charrnn": ("rnnpipe/forecaster/", "rnnpipe/series/")}
# Every stage checks the whole params.yaml before it starts, so every model's params module (which imports only the
# core: tests/test_layering.py) is in every stage's closure and deps: a schema change reruns every stage.
EVERY_STAGE_READS = tuple(f"src/rnnpipe/{model}/{leaf}" for model in ("series", "forecaster", "charrnn")
                          for leaf in ("__init__.py", "params.py"))
# MLflow code writes no output: stages import it, but it is not a dep, so a tracking-only change reruns nothing.
TRACKING = "src/rnnpipe/tracking"
# The stage entry's side of the warm interpreter only hands a run to it; tests/integration/test_warm.py shows the
# outputs equal a cold run's.
NOT_A_DEP = (TRACKING, "src/rnnpipe/warm")


def module_file(name: str) -> Path | None:
    """The file Python runs for a module name under src/, or None when it is not the project's."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """rnnpipe modules a file imports anywhere in it (top level, functions, TYPE_CHECKING blocks alike)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in names if name.split(".")[0] == "rnnpipe" and module_file(name)}


def import_closure(script: Path) -> set[Path]:
    seen: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            parts = name.split(".")
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            pending.extend(f for f in (module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)) if f)
    return {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path for path in seen}


def stage_closure(stage: str) -> set[Path]:
    """What `python -m rnnpipe.stage NAME` (the stage's cmd) imports: the entry's closure and the stage code's."""
    assert STAGES[stage]["cmd"] == f"PYTHONPATH=src python -m rnnpipe.stage {stage}"
    return import_closure(ENTRY) | import_closure(ROOT / "stages" / f"{stage}.py")


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_imported_file_is_a_declared_dep(stage):
    deps = STAGES[stage]["deps"]
    closure = stage_closure(stage)
    assert Path("src/rnnpipe/stage.py") in closure and Path(f"stages/{stage}.py") in closure
    assert len(closure) > 3, closure  # the parser found the library at all
    missing = sorted(str(p) for p in closure if not covered(p, deps) and not covered(p, NOT_A_DEP))
    assert missing == [], f"{stage} imports code its deps do not cover: {missing}"


@pytest.mark.parametrize("side", sorted(SIDES))
def test_no_stage_of_one_model_depends_on_the_other_models_code(side):
    assert set().union(*SIDES.values()) == set(STAGES)
    for stage in SIDES[side]:
        crossing = sorted(str(p) for p in stage_closure(stage) if str(p).startswith(
            tuple(f"src/{prefix}" for prefix in FORBIDDEN[side])) and str(p) not in EVERY_STAGE_READS)
        assert crossing == [], f"{stage} imports {crossing}"
        crossing_deps = [d for d in STAGES[stage]["deps"] if d.startswith(
            tuple(f"src/{prefix}".rstrip("/") for prefix in FORBIDDEN[side])) and d not in EVERY_STAGE_READS]
        assert crossing_deps == [], f"{stage} depends on {crossing_deps}"


def test_tracking_is_imported_but_never_a_dep():
    """The stages that log to MLflow import the tracking package; none lists it, so changing it reruns nothing."""
    for stage in ("train_forecaster", "train_charrnn", "evaluate_charrnn", "forecast"):
        assert any(covered(p, [TRACKING]) for p in stage_closure(stage)), stage
    for stage, spec in STAGES.items():
        for package in NOT_A_DEP:
            assert not [d for d in spec["deps"] if Path(package) in (Path(d), *Path(d).parents)
                        or Path(d) in Path(package).parents and d.startswith("src/")], (stage, spec["deps"])


def test_declared_code_deps_are_all_used():
    """A folder dep no import reaches would rerun the stage for nothing."""
    for stage, spec in STAGES.items():
        closure = stage_closure(stage)
        for dep in spec["deps"]:
            if dep.startswith("src/"):
                assert any(p == Path(dep) or Path(dep) in p.parents for p in closure), (stage, dep)


def test_the_closure_follows_function_level_imports(tmp_path):
    module = SRC / "rnnpipe" / "core" / "checkpoint.py"
    assert "rnnpipe.core.io" in imported_modules(module)
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from rnnpipe.charrnn import ngram\n    return ngram\n", encoding="utf-8")
    assert Path("src/rnnpipe/charrnn/ngram.py") in import_closure(lazy)

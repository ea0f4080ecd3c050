"""Library modules import nothing that can restart the interpreter: only the entry points set a process's numerics up.

rnnpipe.core.numerics sets the environment of the numeric libraries and may restart the process (through
rnnpipe.core.intel_paths); under src/rnnpipe only the entry points may reach it: the stage entry, rnnpipe.stage, and
the warm interpreter that runs stages for a sweep agent, rnnpipe.warm.server. Benchmarks and
tests/conftest.py are entry points of their own and import it directly.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_stage_deps import SRC, import_closure, imported_modules

ROOT = SRC.parent
NUMERICS = Path("src/rnnpipe/core/numerics.py")
INTEL_PATHS = Path("src/rnnpipe/core/intel_paths.py")
ENTRY = Path("src/rnnpipe/stage.py")
STAGE_SERVER = Path("src/rnnpipe/warm/server.py")
TRAINING = Path("src/rnnpipe/core/training.py")
LIBRARY = sorted(path.relative_to(ROOT) for path in (SRC / "rnnpipe").rglob("*.py") if "__pycache__" not in path.parts)
REPLACE_PROCESS = {"execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to("src").with_suffix("").parts)


def importers(target: Path) -> set[Path]:
    return {path for path in LIBRARY if module_name(target) in imported_modules(ROOT / path)}


def test_the_library_was_read():
    assert {NUMERICS, INTEL_PATHS, ENTRY, STAGE_SERVER, TRAINING} <= set(LIBRARY) and len(LIBRARY) > 40


def test_only_the_entry_points_import_the_numerics_setup():
    assert importers(NUMERICS) == {ENTRY, STAGE_SERVER}


def test_only_the_numerics_setup_imports_the_restart():
    assert importers(INTEL_PATHS) == {NUMERICS}


@pytest.mark.parametrize("path", [p for p in LIBRARY if p not in (ENTRY, STAGE_SERVER, NUMERICS, INTEL_PATHS)], ids=str)
def test_no_library_module_reaches_code_that_can_restart_the_process(path):
    reached = import_closure(ROOT / path) & {NUMERICS, INTEL_PATHS}
    assert reached == set(), f"{path} imports {sorted(map(str, reached))}"


def test_training_does_not_import_the_numerics_setup():
    assert not {"rnnpipe.core.numerics", "rnnpipe.core.intel_paths"} & imported_modules(ROOT / TRAINING)


def test_only_intel_paths_replaces_the_process():
    callers = {path for path in LIBRARY for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8")))
               if isinstance(node, ast.Attribute) and node.attr in REPLACE_PROCESS}
    assert callers == {INTEL_PATHS}

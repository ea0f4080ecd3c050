"""The one entry point of every DVC stage: `python -m rnnpipe.stage NAME [ARG ...]`.

It sets the process's numerics up once, before anything imports torch or numpy: it validates params.yaml, checks
the CPU against runtime.isa, sets the pinned environment and restarts the interpreter once where it must
(rnnpipe.core.numerics; check_params, which computes no output bytes, checks the CPU but needs no setting up).
Only then does it import the stage's own code, stages/NAME.py (paths relative to the working directory, as dvc runs
it), and call its `main(params, *ARGS)`. Any user error is one `error:` line and exit code 1; an unknown NAME, or
more or fewer ARGs than its `main` takes, is one line and exit code 2. With RNNPIPE_STAGE_SERVER set (a sweep
agent sets it for its trials), the stage hands the same run to a warm interpreter instead (rnnpipe.warm).
"""
from __future__ import annotations

import ast
import gc
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from rnnpipe.core.errors import run_stage
from rnnpipe.core.numerics import apply_runtime
from rnnpipe.params import Params, load_params
from rnnpipe.warm import ADDRESS_ENV
from rnnpipe.warm import client as warm_client

# Every stage of dvc.yaml, in the order `dvc repro` runs them (tests/test_stage_entry.py keeps the two equal).
STAGES = ("check_params", "prepare_series", "prepare_corpus", "train_forecaster", "evaluate_forecaster", "forecast",
          "train_charrnn", "evaluate_charrnn", "generate_text")
STAGE_CODE = Path("stages")
# Stages that compute no output bytes (check_params writes a constant marker): their numerics need no setting up,
# which spares them the restart on a non-Intel CPU. Its CPU check (runtime.isa) still runs.
UNPINNED = ("check_params",)


def setup_numerics(path: str | Path = "params.yaml") -> Params:
    """An entry point's first call: validate params.yaml and apply its `runtime` before torch loads; any problem is
    one `error:` line and exit code 1."""

    def start() -> Params:
        params = load_params(path)
        apply_runtime(params.runtime)
        return params

    return run_stage(start)


def stage_module(name: str) -> ModuleType:
    """stages/NAME.py, imported under the name `stages.NAME` (it is code, not a package of the library)."""
    path = STAGE_CODE / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"stages.{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(2, "stage code not found (run from the repository root)", str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def arguments_error(name: str, args: list[str]) -> str | None:
    """What is wrong with the number of ARGs given to stages/NAME.py's `main` (None: nothing, or no such file, which
    stage_module reports). Read from the source: the stage's imports must wait until the numerics are set up."""
    try:
        tree = ast.parse((STAGE_CODE / f"{name}.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    main = next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"), None)
    if main is None or main.args.vararg is not None:
        return None
    names = [arg.arg for arg in main.args.args[1:]]  # after params
    required = len(names) - len(main.args.defaults)
    if required <= len(args) <= len(names):
        return None
    allowed = f"{required} to {len(names)}" if required < len(names) else str(len(names))
    return (f"stage {name} got {len(args)} arguments {args!r}: allowed are {allowed} "
            f"({' '.join(names) or 'none'}; usage: python -m rnnpipe.stage {name} [ARG ...])")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in STAGES:
        named = repr(argv[0]) if argv else "none"
        print(f"error: stage {named} is unknown: allowed are {', '.join(STAGES)} "
              "(usage: python -m rnnpipe.stage NAME [ARG ...])", file=sys.stderr)
        return 2
    name, args = argv[0], argv[1:]
    wrong = arguments_error(name, args)
    if wrong:
        print(f"error: {wrong}", file=sys.stderr)
        return 2
    if os.environ.get(ADDRESS_ENV):
        code = warm_client.run_in_server(argv)  # a sweep agent's warm interpreter: the same run, its imports done
        if code is not None:
            return code
    if name in UNPINNED:
        params = run_stage(load_params)
    else:
        params = setup_numerics()
    run_stage(lambda: stage_module(name).main(params, *args))
    # The work is done and written: the collector's passes over torch's and MLflow's objects at interpreter exit
    # would only cost seconds (a sweep trial runs several stages).
    gc.freeze()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

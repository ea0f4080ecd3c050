"""The arguments the project's scripts hand to DVC, checked before any work, each problem one line naming it and exit
code 2 instead of dvc's usage block after minutes of work (or after DVC removed a stage's outputs):

    python -m rnnpipe.pipeline_args [ARGS]                 # command 1's: `dvc repro ARGS`
    python -m rnnpipe.pipeline_args --exp-run LABEL ARGS   # scripts/course.sh's: `dvc exp run ARGS`

Nothing is printed and the exit code is 0 when DVC would take them. Checked: an option DVC does not know, a target
that is neither a stage of dvc.yaml nor a dvc file (a `--glob` pattern or `-R` folder that holds no stage, for which
dvc would run the whole pipeline) and, for `dvc exp run`, params.yaml with its `-S` values applied
(by DVC's own code, to a copy) as check_params would check it: a bad key or value, the corpus, the prompt.
"""
from __future__ import annotations

import contextlib
import fnmatch
import io
import shlex
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Sequence

from rnnpipe.cli import refuse

COMMAND = "bash scripts/run_pipeline.sh"
USAGE = f"""usage: {COMMAND} [STAGE ...] [dvc repro's options]

Sets up .venv, checks params.yaml and the inputs, runs `dvc repro` with these arguments (the whole pipeline when
there are none) and prints a summary. dvc repro's help follows.

"""


def stages(root: Path) -> list[str]:
    import yaml

    try:
        return list(yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    except Exception:  # dvc repro names what is wrong with dvc.yaml
        return []


def parse(command: Sequence[str], args: Sequence[str]):
    """`dvc COMMAND ARGS` parsed by dvc's own parser; a refusal raises ValueError with argparse's message alone (dvc
    would log it, print its usage block and exit)."""
    import logging

    from dvc.cli import DvcParserError
    from dvc.cli import parser as dvc_parser

    said: list[str] = []
    catch = logging.Handler(logging.ERROR)
    catch.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    propagate = dvc_parser.logger.propagate
    dvc_parser.logger.addHandler(catch)
    dvc_parser.logger.propagate = False  # said here, once: not by dvc's own handlers too
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return dvc_parser.get_main_parser().parse_args([*command, *args])
    except (DvcParserError, SystemExit) as exc:  # dvc's parsers log their error; argparse's own print it
        lines = printed.getvalue().strip().splitlines()
        message = said[-1] if said else (lines[-1].partition("error: ")[2] or lines[-1]) if lines else repr(exc)
        raise ValueError(message) from None
    finally:
        dvc_parser.logger.removeHandler(catch)
        dvc_parser.logger.propagate = propagate


def is_stage_file(path: Path) -> bool:
    return path.is_file() and (path.name == "dvc.yaml" or path.suffix == ".dvc")


def holds_stages(folder: Path, root: Path) -> bool:
    """Whether `dvc repro -R folder` finds a stage there: dvc reads a folder without one as no target at all, and
    runs the whole pipeline."""
    folder, root = folder.resolve(), root.resolve()
    if not folder.is_dir() or not folder.is_relative_to(root):
        return False
    return (root / "dvc.yaml").is_relative_to(folder) or any(
        is_stage_file(path) for pattern in ("dvc.yaml", "*.dvc") for path in folder.rglob(pattern))


def target_taken(target: str, known: list[str], root: Path, recursive: bool, glob: bool) -> bool:
    """Whether dvc would take this target: a stage of dvc.yaml, PATH:STAGE, a dvc.yaml or .dvc file, or a folder
    with -R (and '', which dvc reads as the whole pipeline). With --glob a stage name is a pattern, and one matching
    no stage is refused: dvc would run the whole pipeline for it."""
    if target in known or target == "":
        return True
    path, colon, name = target.rpartition(":")
    if colon or glob:
        file = root / (path or "dvc.yaml")
        if file.resolve() != (root / "dvc.yaml").resolve():
            return file.is_file()
        return (not name or bool(fnmatch.filter(known, name))) if glob else name in known
    found = root / target
    return is_stage_file(found) or (recursive and holds_stages(found, root))


def targets_problem(parsed, root: Path, options: str) -> str | None:
    known = stages(root)
    glob, recursive = bool(getattr(parsed, "glob", False)), bool(getattr(parsed, "recursive", False))
    for target in getattr(parsed, "targets", None) or []:
        if not target_taken(target, known, root, recursive, glob):
            what = ("matches no stage of dvc.yaml (--glob)" if glob else
                    "is a folder without a stage in this project (-R)" if recursive and (root / target).is_dir() else
                    "is no stage of dvc.yaml")
            return (f"'{target}' {what}: allowed are its stages ({', '.join(known)}), a dvc.yaml or .dvc file, "
                    f"and {options}")
    return None


def problem(args: Sequence[str], root: Path) -> str | None:
    """Why `dvc repro ARGS` would be refused and what is allowed, in words; None when it would run."""
    options = f"dvc repro's options ({COMMAND} --help)"
    try:
        parsed = parse(["repro"], args)
    except ValueError as exc:
        return f"{exc}: allowed are stage names and {options}"
    return targets_problem(parsed, root, options)


def applied_copy(params_file: Path, overrides: Sequence[str], folder: str) -> Path:
    """params_file copied into folder, with these -S values applied by DVC's own code (its refusal raised as is)."""
    from dvc.utils.hydra import apply_overrides

    copy = Path(folder) / params_file.name
    shutil.copyfile(params_file, copy)
    if overrides:
        apply_overrides(copy, list(overrides))
    return copy


def applies(params_file: Path, override: str) -> bool:
    """Whether DVC applies this one -S value to (a copy of) params_file."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            applied_copy(params_file, [override], folder)
        except Exception:
            return False
    return True


def exp_run_problem(args: Sequence[str], root: Path) -> str | None:
    """Why `dvc exp run ARGS` would be refused or stopped by check_params, in words; None when neither would."""
    options = "dvc exp run's options (dvc exp run --help)"
    try:
        parsed = parse(["exp", "run"], args)
    except ValueError as exc:
        return f"{exc}: allowed are {options}"
    found = targets_problem(parsed, root, options)
    if found:
        return found
    from dvc.utils.cli_parse import to_path_overrides

    from rnnpipe.checks import check_inputs
    from rnnpipe.core.errors import RnnpipeError, first_line
    from rnnpipe.core.params import PARAMS_FILE, read_params_file
    from rnnpipe.params import parse_params

    overrides = to_path_overrides(parsed.set_param or []).get(PARAMS_FILE, [])
    source = f"{PARAMS_FILE} with the -S values" if overrides else PARAMS_FILE
    with tempfile.TemporaryDirectory() as folder:
        try:
            read_params_file(root / PARAMS_FILE)  # missing, not UTF-8, not YAML: named as the file it is
            try:
                applied = applied_copy(root / PARAMS_FILE, overrides, folder)
            except Exception as exc:  # DVC's refusal of a -S value: hydra's reason is its cause
                culprit = next((o for o in overrides if not applies(root / PARAMS_FILE, o)), shlex.join(overrides))
                return (f"-S {culprit}: {first_line(exc)}: {first_line(exc.__cause__ or exc).rstrip('.')}: "
                        "allowed are section.key=value pairs of params.yaml, as `dvc exp run -S` takes them")
            check_inputs(parse_params(read_params_file(applied), source), source)
        except RnnpipeError as exc:
            return first_line(exc).replace(str(Path(folder) / PARAMS_FILE), PARAMS_FILE)
    return None


def main(argv: Sequence[str], root: Path | None = None) -> None:
    root = root or Path.cwd()
    if argv[:1] == ["--exp-run"]:
        if len(argv) < 2:
            refuse("--exp-run needs a LABEL (what the messages start with), then dvc exp run's arguments")
        found = exp_run_problem(argv[2:], root)
        if found:
            refuse(f"{argv[1]}: {found}")
        return
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE + textwrap.fill("Stages: " + ", ".join(stages(root)) + ".", 116) + "\n", flush=True)
        from dvc.cli import parse_args

        parse_args(["repro", "--help"])  # argparse prints dvc repro's help and exits 0
    found = problem(argv, root)
    if found:
        refuse(f"{COMMAND} {shlex.join(argv)}: {found}")


if __name__ == "__main__":
    main(sys.argv[1:])

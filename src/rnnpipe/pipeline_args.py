"""What command 1 (`bash scripts/run_pipeline.sh [ARGS]`) hands to `dvc repro`, checked before any work: an option
`dvc repro` does not know, or a target that is neither a stage of dvc.yaml nor a file, is one line naming it and
exit code 2, not dvc's usage block after the inputs were checked.

    python -m rnnpipe.pipeline_args [ARGS]   # nothing printed and exit 0 when dvc repro would take ARGS
"""
from __future__ import annotations

import contextlib
import io
import shlex
import sys
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


def parse(args: Sequence[str]):
    """`dvc repro ARGS` parsed by dvc's own parser; a refusal raises ValueError with argparse's message alone (dvc
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
            return dvc_parser.get_main_parser().parse_args(["repro", *args])
    except (DvcParserError, SystemExit) as exc:  # dvc's parsers log their error; argparse's own print it
        lines = printed.getvalue().strip().splitlines()
        message = said[-1] if said else (lines[-1].partition("error: ")[2] or lines[-1]) if lines else repr(exc)
        raise ValueError(message) from None
    finally:
        dvc_parser.logger.removeHandler(catch)
        dvc_parser.logger.propagate = propagate


def problem(args: Sequence[str], root: Path) -> str | None:
    """Why `dvc repro ARGS` would be refused and what is allowed, in words; None when it would run."""
    options = f"dvc repro's options ({COMMAND} --help)"
    try:
        parsed = parse(args)
    except ValueError as exc:
        return f"{exc}: allowed are stage names and {options}"
    known = stages(root)
    if not getattr(parsed, "glob", False):
        for target in parsed.targets or []:
            name = target.rpartition(":")[2] if ":" in target else target
            if name not in known and not (root / target).exists():
                return (f"'{target}' is no stage of dvc.yaml and no file: allowed are its stages ({', '.join(known)}) "
                        f"and {options}")
    return None


def main(argv: Sequence[str], root: Path | None = None) -> None:
    root = root or Path.cwd()
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE + textwrap.fill("Stages: " + ", ".join(stages(root)) + ".", 116) + "\n", flush=True)
        from dvc.cli import parse_args

        parse_args(["repro", "--help"])  # argparse prints dvc repro's help and exits 0
    found = problem(argv, root)
    if found:
        refuse(f"{COMMAND} {shlex.join(argv)}: {found}")


if __name__ == "__main__":
    main(sys.argv[1:])

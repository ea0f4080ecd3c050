"""The edge every stage script runs through: a user error is one line on stderr and a non-zero exit."""
from __future__ import annotations

import sys
from typing import Callable, TypeVar

from rnnpipe.core.errors import RnnpipeError


Result = TypeVar("Result")


def run_stage(main: Callable[[], Result]) -> Result:
    """Run a stage's main() and return what it returns; a user error becomes `error: <message>` on stderr and exit
    code 1."""
    try:
        return main()
    except RnnpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: every file is written atomically, so none is half-written; rerun `dvc repro`", file=sys.stderr)
        sys.exit(130)

"""Errors a user can cause, and the edge every command runs through (`run_stage`): a user error is one line on
stderr and a non-zero exit."""
from __future__ import annotations

import sys
from typing import Callable, TypeVar

Result = TypeVar("Result")


def first_line(exc: BaseException) -> str:
    """A library exception's message cut to one line (at most 300 characters), or its type when it has none."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class RnnpipeError(Exception):
    """Base class: the message is the whole story, shown to the user as a single line."""


class ParamsError(RnnpipeError):
    pass


class CorpusError(RnnpipeError):
    pass


class CheckpointError(RnnpipeError):
    pass


class TrackingError(RnnpipeError):
    pass


class GenerationError(RnnpipeError):
    pass


class TrainingError(RnnpipeError):
    pass


class DataError(RnnpipeError):
    """A file one stage wrote for another (a DVC output) that does not hold what that stage writes."""


def restore_hint(path: object, stage: str) -> str:
    """How to get back a DVC output that was altered or damaged: from the cache, or by running its stage again."""
    return f"restore it with `dvc checkout {path}`, or rebuild it with `dvc repro -f -s {stage}`"


def run_stage(main: Callable[[], Result]) -> Result:
    """Run a command's main() and return what it returns; a user error, or an OSError (disk full, no permission),
    becomes `error: <message>` on stderr and exit code 1."""
    try:
        return main()
    except RnnpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # the system refused a read or a write outside rnnpipe.core.io (a full disk, permissions)
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: every file is written atomically, so none is half-written; rerun `dvc repro`", file=sys.stderr)
        sys.exit(130)


def os_error_line(exc: OSError) -> str:
    """`<what the system said>: <the path>` (both paths of a rename or a copy), in one line."""
    reason = exc.strerror or first_line(exc)
    paths = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason

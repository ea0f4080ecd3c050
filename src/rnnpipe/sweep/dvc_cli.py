"""`python -m rnnpipe.sweep.dvc_cli ARGS`: dvc's own command line, as the `dvc` script runs it, for a trial (in a
fork of the agent's stage server when it has one: rnnpipe.warm).

When a Python process ends, the interpreter tears its modules down with repeated garbage collections over every
object they hold; after `dvc exp run` that costs most of a second on a small CPU, per trial, for nothing. Moving
every object to the collector's permanent generation first (gc.freeze) leaves the teardown little to walk. Exit
handlers still run: only the collection passes are skipped.
"""
from __future__ import annotations

import gc
import sys


def main(argv: list[str]) -> int:
    from dvc.cli import main as dvc_main

    code = dvc_main(argv)
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Push DVC's run cache *with* the data it points to, so that `dvc repro --pull` in another clone can restore a stage.

`dvc push --run-cache` (DVC 3) uploads only the run records (.dvc/cache/runs); the outputs they name travel only if
some pushed revision also holds them, and outputs with `cache: false` (metrics and plot tables kept in git) never
do. A clone that then meets the same stage with the same deps and params finds the record, misses those files
("Some of the cache files do not exist neither locally nor on remote") and trains again. This script pushes the
records and every object they name, through DVC's own API, the way DVC 2's `push --run-cache` did.

Usage (in a clone, with the team extra): python scripts/team_push_run_cache.py [-r REMOTE]
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-r", "--remote", default=None, help="DVC remote (default: core.remote, i.e. `team`)")
    args = parser.parse_args(argv)

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(".")
        with repo.lock:
            entries = repo.stage_cache.push(args.remote)          # the run records: what `push --run-cache` does
            used = repo.stage_cache.get_used_objs(entries)         # every output they name, `cache: false` ones too
            pushed = failed = 0
            for odb, objects in used.items():
                result = repo.cloud.push(objects, remote=args.remote, odb=odb)
                pushed += len(result.transferred)
                failed += len(result.failed)
    except DvcException as exc:
        print(f"error: pushing the run cache failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 1
    if failed:
        print(f"error: {failed} objects of the run cache could not be pushed: check `dvc push -v`", file=sys.stderr)
        return 1
    print(f"run cache: {len(entries)} records and {pushed} new objects pushed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

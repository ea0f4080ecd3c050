"""`python -m rnnpipe.tracking init [URI] | champions | promote MODEL VERSION` (see rnnpipe.tracking)."""
from __future__ import annotations

import sys
from typing import Optional

from rnnpipe.core.errors import TrackingError, first_line, run_stage
from rnnpipe.models import MODELS
from rnnpipe.tracking.registry import CHAMPION, summary
from rnnpipe.tracking.runs import Tracker

USAGE = "usage: python -m rnnpipe.tracking init [URI] | champions | promote {" + ",".join(MODELS) + "} VERSION"


def tracker_from_params(uri: Optional[str] = None, create: bool = False) -> Tracker:
    """The store a stage would log to: MLFLOW_TRACKING_URI, else the URI given, else params.yaml's, else the local
    default. Only `init` creates a SQLite store that is not there."""
    import os
    from pathlib import Path

    from rnnpipe.params import load_params

    if uri is None and (Path("params.yaml").is_file() or not os.environ.get("MLFLOW_TRACKING_URI")):
        uri = load_params().tracking.uri  # the store MLFLOW_TRACKING_URI names needs no params.yaml
    return Tracker(True, uri, create=create)


def init_store(uri: Optional[str]) -> None:
    """Create the store and every experiment up front (before `dvc queue start -j N`, for example)."""
    tracker = tracker_from_params(uri, create=True)
    for model in MODELS.values():
        print(f"{model.experiment}: experiment {tracker.experiment_id(model)} in {tracker.uri}; runs table: "
              f"{tracker.runs_table_url(model)}")


def promote_by_hand(kind: str, version: str) -> None:
    name = MODELS[kind].experiment
    if not (version.isascii() and version.isdigit() and 1 <= int(version) < 2**63):
        raise TrackingError(f"promote: version {version!r} is invalid: allowed is a version number >= 1 of {name} "
                            "(python -m rnnpipe.tracking champions lists them)")
    tracker = tracker_from_params()
    try:
        tracker.client.get_model_version(name, version)
        tracker.client.set_registered_model_alias(name, CHAMPION, version)
    except Exception as exc:  # MlflowException: no such model or version
        raise TrackingError(f"cannot promote {name} version {version}: {first_line(exc)}; "
                            "python -m rnnpipe.tracking champions lists the versions") from None
    print(f"registry: {name} version {version} is now @{CHAMPION}")


def help_text() -> str:
    import rnnpipe.tracking

    examples = [line for line in (rnnpipe.tracking.__doc__ or "").splitlines() if line.startswith("    python -m")]
    return "\n".join([USAGE, "", *examples, "",
                      "The store is MLFLOW_TRACKING_URI's, else init's URI, else params.yaml's tracking.uri, else the "
                      "project's mlflow.db."])


def main(argv: list[str]) -> None:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if argv in (["-h"], ["--help"]):
        print(help_text())
    elif command == "init" and len(args) <= 1:
        init_store(args[0] if args else None)
    elif command == "champions" and not args:
        tracker = tracker_from_params()
        for model in MODELS.values():
            print("\n".join(summary(tracker.client, model)))
    elif command == "promote" and len(args) == 2 and args[0] in MODELS:
        promote_by_hand(*args)
    else:
        raise TrackingError(f"{USAGE} (got {' '.join(argv) or 'nothing'})")


if __name__ == "__main__":
    run_stage(lambda: main(sys.argv[1:]))

"""The edge every stage script runs through: one-line errors, non-zero exits, deterministic torch."""
from __future__ import annotations

import os
import sys
from typing import Callable

from rnnpipe.errors import RnnpipeError


def configure_determinism(seed: int) -> None:
    """Same seed, same bytes: fixed thread count and deterministic kernels."""
    import torch

    # Thread count changes the order of floating-point reductions; pin it so two machines agree.
    torch.set_num_threads(int(os.environ.get("RNNPIPE_THREADS", "2")))
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a user error becomes `error: <message>` on stderr and exit code 1."""
    try:
        main()
    except RnnpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: every file is written atomically, so none is half-written; rerun `dvc repro`", file=sys.stderr)
        sys.exit(130)


def history_frame(history: list) -> "pandas.DataFrame":  # noqa: F821
    """Per-epoch losses as a table for plots/ (no timings: DVC outputs stay deterministic)."""
    import pandas as pd

    return pd.DataFrame([{"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss} for r in history])


def log_epoch(tracker: "object", prefix: str = "") -> "Callable":
    """An on_epoch callback sending train/val loss to MLflow with step=epoch."""

    def callback(row: "object") -> None:
        tracker.log_metrics({f"{prefix}train_loss": row.train_loss, f"{prefix}val_loss": row.val_loss,
                             f"{prefix}epoch_seconds": row.seconds}, step=row.epoch)

    return callback

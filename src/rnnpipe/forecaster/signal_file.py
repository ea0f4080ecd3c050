"""The prepared signal (data/series/signal.csv, which prepare_series writes) as the forecaster's stages read it:
checked first, so a file edited by hand or damaged is one line naming the file, the row and how to restore it,
never a traceback or a metric computed from it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rnnpipe.core.errors import DataError, first_line, restore_hint

if TYPE_CHECKING:
    import pandas as pd

NUMBERS = ("x", "clean", "y")
SPLITS = ("train", "test")  # in this order: the training part first


def read_signal(path: str | Path) -> "pd.DataFrame":
    """The table x, clean, y, split: every number finite, the training rows first, at least one row of each part."""
    import numpy as np
    import pandas as pd

    def damaged(problem: str) -> DataError:
        return DataError(f"{path}: {problem}; {restore_hint(path, 'prepare_series')}")

    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise damaged(f"not a CSV table of the signal ({first_line(exc)})") from None
    missing = [name for name in (*NUMBERS, "split") if name not in frame.columns]
    if missing:
        raise damaged(f"no column {missing[0]!r}: the signal's columns are {', '.join((*NUMBERS, 'split'))}")
    for name in NUMBERS:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = int(bad[0])
            raise damaged(f"line {row + 2} has {name} = {str(frame[name].iloc[row])[:40]!r}: allowed is a finite "
                          "number")
    split = frame["split"]
    unknown = np.flatnonzero(~split.isin(SPLITS).to_numpy())
    if len(unknown):
        row = int(unknown[0])
        raise damaged(f"line {row + 2} has split = {str(split.iloc[row])[:40]!r}: allowed is train or test")
    n_train = int((split == "train").sum())
    if n_train == 0 or n_train == len(frame) or not (split.iloc[:n_train] == "train").all():
        raise damaged(f"its {n_train} train and {len(frame) - n_train} test rows are not a training part followed "
                      "by a test part")
    return frame

"""Everything prepare_series writes, made from the `series` and `ar` params: the tables and their summary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from rnnpipe.series.params import ARParams, SeriesParams
from rnnpipe.series.ar1 import ar1_process, ar_summary
from rnnpipe.series.signal import noisy_signal


@dataclass(frozen=True)
class Series:
    signal: pd.DataFrame   # x, clean, y, split
    ar1: pd.DataFrame      # t, x
    ar2: pd.DataFrame      # t, x1, x2
    summary: dict[str, Any]


def build_series(s: SeriesParams, ar: ARParams) -> Series:
    signal = noisy_signal(s.x_min, s.x_max, s.n_points, s.n_train, s.noise_std, s.seed)
    x1, eps1, h1 = ar1_process([ar.sigma_1d], [ar.r_1d], ar.length, ar.seed, ar.h0)
    # A different seed for the 2-D process keeps its noise independent of the 1-D one.
    x2, eps2, h2 = ar1_process(ar.sigma_2d, ar.r_2d, ar.length, ar.seed + 1, ar.h0)
    t = range(1, ar.length + 1)
    test = signal[signal["split"] == "test"]
    summary = {
        "signal": {"n_train": s.n_train, "n_test": len(test),
                   "noise_std_measured": float((signal["y"] - signal["clean"]).std())},
        "ar1": ar_summary(x1[:, 0], ar.sigma_1d, ar.r_1d, eps1[:, 0], h1[0]),
        "ar2_x1": ar_summary(x2[:, 0], ar.sigma_2d[0], ar.r_2d[0], eps2[:, 0], h2[0]),
        "ar2_x2": ar_summary(x2[:, 1], ar.sigma_2d[1], ar.r_2d[1], eps2[:, 1], h2[1]),
    }
    return Series(signal=signal, ar1=pd.DataFrame({"t": t, "x": x1[:, 0]}),
                  ar2=pd.DataFrame({"t": t, "x1": x2[:, 0], "x2": x2[:, 1]}), summary=summary)

"""params.yaml `series` (the noisy signal) and `ar` (the AR(1) processes)."""
from __future__ import annotations

from typing import Literal

from rnnpipe.core.params import (Correlation, NonNegative, Number, PairOfCorrelations, PairOfPositives, Positive,
                                 Section, Seed, at_least, fail, one_of)

H0 = Literal["stationary", "course"]


class SeriesParams(Section):
    x_min: Number
    x_max: Number
    n_points: at_least(4)
    n_train: at_least(2)
    noise_std: NonNegative
    seed: Seed


class ARParams(Section):
    length: at_least(2)
    h0: one_of(H0)
    seed: Seed
    sigma_1d: Positive
    r_1d: Correlation
    sigma_2d: PairOfPositives
    r_2d: PairOfCorrelations


def check_series(s: SeriesParams) -> None:
    if s.x_max <= s.x_min:
        fail("series.x_max", s.x_max, f"a number > series.x_min ({s.x_min})")
    if s.n_train >= s.n_points:
        fail("series.n_train", s.n_train, f"an integer < series.n_points ({s.n_points})")

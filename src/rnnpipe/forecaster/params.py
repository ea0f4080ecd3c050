"""params.yaml `forecaster`, `forecast` and `serving.forecaster`, and the rules that tie them to `series`."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rnnpipe.core.params import (FLOAT32_MAX, Allowed, Cell, Fraction, Keep, NonNegative, Optimizer, Positive,
                                 Schedule, Section, Seed, at_least, check_model_size, fail, one_of)
from rnnpipe.series.params import SeriesParams


class ForecasterParams(Section):
    seq_length: at_least(1)
    targets_per_window: at_least(1)
    window_stride: at_least(1)
    input_noise: NonNegative
    cell: one_of(Cell)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    linear_window: at_least(0)
    optimizer: one_of(Optimizer)
    lr: Positive
    lr_schedule: one_of(Schedule)
    batch_size: at_least(1)
    epochs: at_least(1)
    val_fraction: Fraction
    keep: one_of(Keep)
    seed: Seed


class ForecastParams(Section):
    horizon: at_least(1)


class ForecasterServingParams(Section):
    """What one request to the served forecaster may ask for (rnnpipe.forecaster.serving); stored with the model."""

    max_horizon: at_least(1)               # steps forecast
    max_rows: at_least(1)                  # values sent (only the last seq_length are read)
    max_abs_value: Annotated[float, Field(gt=0, le=FLOAT32_MAX, allow_inf_nan=False),
                             Allowed(f"a number in (0, {FLOAT32_MAX:g}] (float32's largest)")]


def validation_size(n_train: int, seq_length: int, val_fraction: float) -> int:
    """Number of validation targets carved from the end of the training part's windows."""
    n_windows = n_train - seq_length
    return max(1, int(round(n_windows * val_fraction))) if n_windows > 1 else 0


def _leaves_windows(n_train: int, seq_length: int, val_fraction: float) -> bool:
    n_val = validation_size(n_train, seq_length, val_fraction)
    return n_val >= 1 and n_train - seq_length - n_val >= 1


def check_forecaster(s: SeriesParams, f: ForecasterParams, forecast: ForecastParams) -> None:
    """The windows must fit the series' training part, the forecast its test part."""
    if not _leaves_windows(s.n_train, f.seq_length, f.val_fraction):
        longest = max((n for n in range(1, s.n_train) if _leaves_windows(s.n_train, n, f.val_fraction)), default=0)
        fail("forecaster.seq_length", f.seq_length,
             f"an integer that leaves training and validation windows in the {s.n_train}-point training part "
             f"(at most {longest} with val_fraction {f.val_fraction:g})")
    n_fit = s.n_train - f.seq_length - validation_size(s.n_train, f.seq_length, f.val_fraction)
    if f.window_stride > n_fit:
        fail("forecaster.window_stride", f.window_stride,
             f"an integer from 1 to the number of training windows ({n_fit})")
    if f.targets_per_window > f.seq_length:
        fail("forecaster.targets_per_window", f.targets_per_window,
             f"an integer from 1 to forecaster.seq_length ({f.seq_length})")
    if forecast.horizon > s.n_points - s.n_train:
        fail("forecast.horizon", forecast.horizon, f"an integer <= the test part's length ({s.n_points - s.n_train})")


def check_forecaster_size(f: ForecasterParams) -> None:
    check_model_size("forecaster", f, input_size=1)

"""Tests for the forecaster's test metrics and baselines (rnnpipe.forecaster.evaluate)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from rnnpipe.forecaster.evaluate import (RIDGE_PENALTIES, RIDGE_WINDOWS, forecaster_metrics, linear_ar_fit,
                                       linear_ar_predict, mse, prediction_table, ridge_ar_baseline,
                                       ridge_ar_predictions, ridge_validation_size, with_ridge_baseline)
from rnnpipe.forecaster.windows import forecaster_windows
from rnnpipe.series.signal import noisy_signal

torch.set_num_threads(1)


def test_mse_of_known_values():
    assert mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == pytest.approx(4 / 3)
    assert mse(np.array([0.5]), np.array([0.5])) == 0.0
    assert mse(np.array([1, 2], dtype=np.float32), np.array([2, 4])) == pytest.approx(2.5)


def windows_of(sequence: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(len(sequence) - order)
    return sequence[starts[:, None] + np.arange(order)], sequence[starts + order]


def test_linear_ar_fit_recovers_the_coefficients_of_a_noiseless_recurrence():
    # y[t] = 0.5 y[t-3] - 0.2 y[t-2] + 0.6 y[t-1] + 0.3, from several random starts
    weights, bias = np.array([0.5, -0.2, 0.6]), 0.3
    rng = np.random.default_rng(0)
    inputs, targets = [], []
    for _ in range(4):
        y = list(rng.normal(size=3))
        for _ in range(30):
            y.append(float(np.dot(weights, y[-3:]) + bias))
        x, t = windows_of(np.array(y), 3)
        inputs.append(x)
        targets.append(t)
    coefficients = linear_ar_fit(np.vstack(inputs), np.concatenate(targets))
    np.testing.assert_allclose(coefficients, [0.5, -0.2, 0.6, 0.3], atol=1e-9)


def test_linear_ar_predict_applies_window_weights_and_intercept():
    inputs = np.array([[1.0, 2.0], [0.0, -1.0]])
    np.testing.assert_allclose(linear_ar_predict(np.array([2.0, 3.0, 0.5]), inputs), [8.5, -2.5])


class LastValue(nn.Module):
    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1]


@pytest.fixture(scope="module")
def signal_windows():
    frame = noisy_signal(-10.0, 10.0, 400, 250, 0.1, seed=0)
    windows = forecaster_windows(frame["y"].to_numpy(), 250, 10, 40)
    return windows, frame["clean"].to_numpy()[250:], frame["y"].to_numpy()[250:]


def test_forecaster_metrics_of_a_persistence_model_equal_the_persistence_baseline(signal_windows):
    windows, clean_test, y_test = signal_windows
    metrics, series = forecaster_metrics(LastValue(), windows, clean_test)
    assert metrics["n_test_targets"] == 150
    assert metrics["test_mse"] == metrics["persistence_mse"]
    assert metrics["test_mse_over_persistence"] == 1.0
    assert metrics["test_mse_over_linear_ar"] == pytest.approx(metrics["test_mse"] / metrics["linear_ar_mse"])
    assert metrics["test_mse_over_noise_floor"] == pytest.approx(metrics["test_mse"] / metrics["noise_floor_mse"])
    previous = np.concatenate([[windows["x_test"][0, -1].item()], y_test[:-1]])
    assert metrics["persistence_mse"] == pytest.approx(mse(previous, y_test), rel=1e-6)
    assert metrics["noise_floor_mse"] == pytest.approx(mse(clean_test, y_test), rel=1e-6)
    np.testing.assert_allclose(series["target"], y_test, rtol=1e-6)
    np.testing.assert_allclose(series["prediction"], previous, rtol=1e-6)


def test_forecaster_metrics_linear_baseline_beats_persistence_on_a_smooth_signal(signal_windows):
    windows, clean_test, _ = signal_windows
    metrics, series = forecaster_metrics(LastValue(), windows, clean_test)
    assert metrics["linear_ar_mse"] < metrics["persistence_mse"]
    assert metrics["linear_ar_mse"] == pytest.approx(mse(series["linear_ar"], series["target"]))
    # noise std 0.1: the clean signal is about 0.01 away from the noisy targets
    assert 0.005 < metrics["noise_floor_mse"] < 0.02


def ar2_series(n: int, seed: int = 0, noise: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + 2.0 + noise * rng.standard_normal()  # mean 2.0 / 0.7
    return y


def test_the_ridge_ar_reaches_the_noise_of_a_linear_process():
    y = ar2_series(3000)
    ridge = ridge_ar_baseline(y, 2000, 300)
    assert ridge["ridge_ar_mse"] == pytest.approx(0.01, rel=0.15)  # the innovation variance: nothing predicts it
    assert ridge["ridge_ar_window"] in RIDGE_WINDOWS and ridge["ridge_ar_penalty"] in RIDGE_PENALTIES


def test_the_ridge_ar_is_chosen_on_validation_never_on_the_test_part():
    y = ar2_series(3000)
    changed = y.copy()
    changed[2000:] = ar2_series(1000, seed=7) * 3.0  # another test part altogether
    first, second = ridge_ar_baseline(y, 2000, 300), ridge_ar_baseline(changed, 2000, 300)
    assert (first["ridge_ar_window"], first["ridge_ar_penalty"], first["ridge_ar_val_mse"]) == \
        (second["ridge_ar_window"], second["ridge_ar_penalty"], second["ridge_ar_val_mse"])
    assert first["ridge_ar_mse"] != second["ridge_ar_mse"]


def test_the_intercept_is_not_shrunk():
    y = np.full(600, 5.0) + 1e-3 * np.random.default_rng(0).standard_normal(600)
    ridge = ridge_ar_baseline(y, 400, 50, windows=(10,), penalties=(1e6,))  # lags shrunk to ~0: the mean remains
    assert ridge["ridge_ar_mse"] < 1e-5


def test_a_short_series_still_gets_a_ridge_baseline():
    ridge = ridge_ar_baseline(ar2_series(400), 200, 38)  # the integration tests' tiny signal
    assert np.isfinite(ridge["ridge_ar_mse"]) and ridge["ridge_ar_window"] <= 50
    tiny = ridge_ar_baseline(ar2_series(60), 30, 6)  # no candidate window fits: a small one is used
    assert np.isfinite(tiny["ridge_ar_mse"]) and 1 <= tiny["ridge_ar_window"] <= 8


def test_the_ridge_ar_has_its_own_validation_part_whatever_the_forecasters_window():
    assert ridge_validation_size(1000) == 140  # a fifth of the 700 targets its longest window, 300, leaves
    y = ar2_series(1400)
    ridge = with_ridge_baseline({"test_mse": 0.01}, y, 1000)
    assert ridge["ridge_ar_val_mse"] == ridge_ar_baseline(y, 1000, 140)["ridge_ar_val_mse"]
    assert ridge["test_mse_over_ridge_ar"] == pytest.approx(0.01 / ridge["ridge_ar_mse"])
    assert ridge_validation_size(200) == 40  # shorter than the longest window: a fifth of every target
    assert np.isfinite(with_ridge_baseline({"test_mse": 0.01}, ar2_series(400), 200)["ridge_ar_mse"])


def test_the_plotted_ridge_predictions_are_those_the_ridge_figure_scores():
    y = ar2_series(1400)
    ridge = ridge_ar_baseline(y, 1000, 140)
    predicted = ridge_ar_predictions(y, 1000, ridge["ridge_ar_window"], ridge["ridge_ar_penalty"])
    assert len(predicted) == 400
    assert mse(predicted, np.asarray(y, dtype=np.float32)[1000:]) == pytest.approx(ridge["ridge_ar_mse"])
    test = pd.DataFrame({"x": np.arange(400.0), "clean": np.zeros(400)})
    table = prediction_table(test, {"target": y[1000:], "prediction": y[1000:]}, predicted, points=50)
    assert list(table.columns) == ["x", "y", "clean", "forecaster", "ridge_ar"] and len(table) == 50

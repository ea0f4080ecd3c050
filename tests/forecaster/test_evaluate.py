"""Tests for the forecaster's test metrics and baselines (rnnpipe.forecaster.evaluate)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnpipe.forecaster.evaluate import forecaster_metrics, linear_ar_fit, linear_ar_predict, mse
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

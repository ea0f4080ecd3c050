"""Tests for recursive multi-step forecasts (rnnpipe.forecaster.forecast)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnpipe.forecaster.forecast import recursive_forecast
from tests.builders import make_forecaster

torch.set_num_threads(1)


class Doubler(nn.Module):
    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1] * 2 + window[:, 0] * 0


class WindowMean(nn.Module):
    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window.mean(dim=1)


def test_recursive_forecast_feeds_each_prediction_back():
    predictions = recursive_forecast(Doubler(), np.array([5.0, 1.0, 3.0]), horizon=4)
    np.testing.assert_array_equal(predictions, [6.0, 12.0, 24.0, 48.0])


def test_recursive_forecast_drops_the_oldest_value_each_step():
    # window means: (1+2+3)/3 = 2, (2+3+2)/3 = 7/3, (3+2+7/3)/3 = 22/9
    predictions = recursive_forecast(WindowMean(), np.array([1.0, 2.0, 3.0]), horizon=3)
    np.testing.assert_allclose(predictions, [2.0, 7 / 3, 22 / 9], rtol=1e-6)


def test_recursive_forecast_equals_a_manual_loop_with_a_trained_shape_model():
    torch.manual_seed(0)
    forecaster = make_forecaster(cell="lstm", hidden_size=6).eval()
    history = np.cos(np.linspace(0, 3, 10))
    predictions = recursive_forecast(forecaster, history, horizon=8)
    window = list(history.astype(np.float32))
    expected = []
    with torch.no_grad():
        for _ in range(8):
            value = float(forecaster(torch.tensor([window[-10:]], dtype=torch.float32))[0])
            expected.append(value)
            window.append(value)
    assert predictions.shape == (8,)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-7)


def test_recursive_forecast_does_not_modify_the_history():
    history = np.array([1.0, 2.0, 3.0])
    recursive_forecast(Doubler(), history, horizon=3)
    np.testing.assert_array_equal(history, [1.0, 2.0, 3.0])

"""Recursive multi-step forecasts: each prediction is fed back as the newest input."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnpipe.forecaster.evaluate import mse


RESULTS = ("mse_vs_clean",)  # metrics/forecast.json; the rest goes to reports/forecast.json


@torch.no_grad()
def recursive_forecast(model: nn.Module, history: np.ndarray, horizon: int) -> np.ndarray:
    """Predict `horizon` steps ahead, feeding each prediction back as the newest input."""
    window = torch.as_tensor(np.asarray(history, dtype=np.float32)).clone()
    predictions = np.empty(horizon, dtype=np.float64)
    for step in range(horizon):
        value = model(window.unsqueeze(0))[0]
        predictions[step] = float(value)
        window = torch.cat([window[1:], value.reshape(1)])
    return predictions


def forecast_table(future: pd.DataFrame, forecast: np.ndarray) -> pd.DataFrame:
    """samples/forecast.csv: step, x, the forecast, and the noisy and clean truth it is compared with."""
    return pd.DataFrame({"step": range(1, len(forecast) + 1), "x": future["x"].to_numpy(), "forecast": forecast,
                         "y": future["y"].to_numpy(), "clean": future["clean"].to_numpy()})


def forecast_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """MSE against the noisy truth and the clean signal, over the whole horizon and its first 10 and 50 steps."""
    horizon = len(table)
    metrics: dict[str, Any] = {"horizon": horizon, "mse_vs_noisy": mse(table["forecast"], table["y"]),
                               "mse_vs_clean": mse(table["forecast"], table["clean"])}
    for steps in (10, 50):
        if steps <= horizon:
            metrics[f"mse_vs_clean_first_{steps}"] = mse(table["forecast"][:steps], table["clean"][:steps])
    return metrics

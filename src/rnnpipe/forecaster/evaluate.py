"""The forecaster's test MSE next to honest baselines on the same targets, and the table the plots read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn


# The figures a forecaster is judged by (metrics/forecaster.json); the rest goes to reports/forecaster_test.json.
# The ratios between them go to the report: the summary and the MLflow run show them.
RESULTS = ("test_mse", "linear_ar_mse", "noise_floor_mse")


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


def linear_ar_fit(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares AR over the same window the RNN sees: coefficients for [window..., 1]."""
    design = np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, np.asarray(targets, dtype=np.float64), rcond=None)
    return coefficients


def linear_ar_predict(coefficients: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    return np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64) @ coefficients


def forecaster_metrics(model: nn.Module, windows: dict[str, torch.Tensor], clean_test: np.ndarray
                       ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Test MSE of the model and of three baselines on the same targets, plus the ratios between them.

    persistence: repeat the last value; linear AR: least squares on the training windows (fit + val);
    noise floor: the clean signal itself, i.e. the error no predictor of the noisy targets can avoid.
    """
    x_train = torch.cat([windows["x_fit"], windows["x_val"]]).numpy()
    y_train = torch.cat([windows["y_fit"], windows["y_val"]]).numpy()
    x_test, y_test = windows["x_test"].numpy(), windows["y_test"].numpy()
    with torch.no_grad():
        predicted = model(windows["x_test"]).numpy()
    linear = linear_ar_predict(linear_ar_fit(x_train, y_train), x_test)
    metrics = {
        "test_mse": mse(predicted, y_test),
        "persistence_mse": mse(x_test[:, -1], y_test),
        "linear_ar_mse": mse(linear, y_test),
        "noise_floor_mse": mse(clean_test, y_test),
        "n_test_targets": int(len(y_test)),
    }
    metrics["test_mse_over_linear_ar"] = metrics["test_mse"] / metrics["linear_ar_mse"]
    metrics["test_mse_over_noise_floor"] = metrics["test_mse"] / metrics["noise_floor_mse"]
    metrics["test_mse_over_persistence"] = metrics["test_mse"] / metrics["persistence_mse"]
    return metrics, {"prediction": predicted, "linear_ar": linear, "target": y_test}


PLOTTED_TEST_POINTS = 200  # a window of the test part where four lines can still be told apart


def prediction_table(test: pd.DataFrame, series: dict[str, np.ndarray], points: int = PLOTTED_TEST_POINTS
                     ) -> pd.DataFrame:
    """plots/forecaster/predictions.csv: the first `points` of the test part: x, the noisy target, the clean
    signal and both one-step predictions (the metrics cover every test target)."""
    return pd.DataFrame({"x": test["x"].to_numpy(), "y": series["target"], "clean": test["clean"].to_numpy(),
                         "rnn": series["prediction"], "linear_ar": series["linear_ar"]}).iloc[:points]

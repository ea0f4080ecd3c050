"""The forecaster's test MSE next to honest baselines on the same targets, and the table the plots read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnpipe.forecaster.params import validation_size

# The figures a forecaster is judged by (metrics/forecaster.json); the rest goes to reports/forecaster_test.json.
# The ratios between them go to the report: the summary and the MLflow run show them.
RESULTS = ("test_mse", "linear_ar_mse", "ridge_ar_mse", "noise_floor_mse")
# The ridge AR's candidates: windows up to the default forecaster's, penalties over six decades. Both are chosen on
# the validation targets (the end of the training part), never on the test part.
RIDGE_WINDOWS = (10, 20, 50, 100, 150, 200, 250, 300)
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
# The ridge AR's own validation part: a baseline whose figure moved with the forecaster's window would not be one.
RIDGE_VAL_FRACTION = 0.2


def ridge_validation_size(n_train: int) -> int:
    """The ridge AR's validation targets: the last RIDGE_VAL_FRACTION of the targets its longest candidate window
    leaves in the training part (of all of them when the training part is shorter than that window)."""
    return (validation_size(n_train, max(RIDGE_WINDOWS), RIDGE_VAL_FRACTION)
            or validation_size(n_train, 0, RIDGE_VAL_FRACTION))


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


def linear_ar_window(rows: int, seq_length: int) -> int:
    """The least-squares AR's window: the last values of the forecaster's window, as many as leave at least two
    training rows per coefficient (a fit with as many coefficients as rows only reproduces its noise)."""
    return max(1, min(seq_length, rows // 2 - 1))


def linear_ar_fit(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares AR: coefficients for [inputs..., 1]."""
    design = np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, np.asarray(targets, dtype=np.float64), rcond=None)
    return coefficients


def linear_ar_predict(coefficients: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    return np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64) @ coefficients


def forecaster_metrics(model: nn.Module, windows: dict[str, torch.Tensor], clean_test: np.ndarray
                       ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Test MSE of the model and of three baselines on the same targets, plus the ratios between them.

    persistence: repeat the last value; linear AR: least squares on the training windows (fit + val), over the
    last linear_ar_window values of each; noise floor: the clean signal itself, i.e. the error no predictor of the
    noisy targets can avoid.
    """
    x_train = torch.cat([windows["x_fit"], windows["x_val"]]).numpy()
    y_train = torch.cat([windows["y_fit"], windows["y_val"]]).numpy()
    x_test, y_test = windows["x_test"].numpy(), windows["y_test"].numpy()
    with torch.no_grad():
        predicted = model(windows["x_test"]).numpy()
    lags = linear_ar_window(len(x_train), x_train.shape[1])
    linear = linear_ar_predict(linear_ar_fit(x_train[:, -lags:], y_train), x_test[:, -lags:])
    metrics = {
        "test_mse": mse(predicted, y_test),
        "persistence_mse": mse(x_test[:, -1], y_test),
        "linear_ar_mse": mse(linear, y_test),
        "linear_ar_window": lags,
        "noise_floor_mse": mse(clean_test, y_test),
        "n_test_targets": int(len(y_test)),
    }
    metrics["test_mse_over_linear_ar"] = metrics["test_mse"] / metrics["linear_ar_mse"]
    metrics["test_mse_over_noise_floor"] = metrics["test_mse"] / metrics["noise_floor_mse"]
    metrics["test_mse_over_persistence"] = metrics["test_mse"] / metrics["persistence_mse"]
    return metrics, {"prediction": predicted, "linear_ar": linear, "target": y_test}


def lagged(values: np.ndarray, first: int, stop: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets values[first:stop], each with the `window` values before it and a 1 (the intercept) as inputs."""
    rows = np.lib.stride_tricks.sliding_window_view(values[first - window:stop - 1], window)
    return np.hstack([rows, np.ones((len(rows), 1))]), values[first:stop]


def ridge_fit(inputs: np.ndarray, targets: np.ndarray, penalty: float) -> np.ndarray:
    """Least squares with an L2 penalty on the lag coefficients (not on the intercept)."""
    regulariser = penalty * np.eye(inputs.shape[1])
    regulariser[-1, -1] = 0.0
    return np.linalg.solve(inputs.T @ inputs + regulariser, inputs.T @ targets)


def ridge_ar_baseline(y: np.ndarray, n_train: int, n_val: int, windows: tuple[int, ...] = RIDGE_WINDOWS,
                      penalties: tuple[float, ...] = RIDGE_PENALTIES) -> dict[str, float]:
    """The best linear peer: a ridge AR whose window and penalty are picked on the validation targets (the last
    n_val of the training part), refitted on the whole training part, scored on every test target.

    The series is rounded to float32 first, as the forecaster's windows are, so every model is scored on the same
    targets. Windows that leave fewer fitting rows than twice their size are skipped (small series)."""
    values = np.asarray(y, dtype=np.float32).astype(np.float64)
    fit_end = n_train - n_val
    usable = [w for w in windows if fit_end - w >= 2 * (w + 1)] or [max(1, (fit_end - 2) // 3)]
    trials = []
    for window in usable:
        x_fit, t_fit = lagged(values, window, fit_end, window)
        x_val, t_val = lagged(values, fit_end, n_train, window)
        for penalty in penalties:
            trials.append((mse(x_val @ ridge_fit(x_fit, t_fit, penalty), t_val), window, penalty))
    val_mse, window, penalty = min(trials)
    x_train, t_train = lagged(values, window, n_train, window)
    x_test, t_test = lagged(values, n_train, len(values), window)
    return {"ridge_ar_mse": mse(x_test @ ridge_fit(x_train, t_train, penalty), t_test), "ridge_ar_window": window,
            "ridge_ar_penalty": penalty, "ridge_ar_val_mse": val_mse}


def ridge_ar_predictions(y: np.ndarray, n_train: int, window: int, penalty: float) -> np.ndarray:
    """The one-step test predictions of the ridge AR ridge_ar_baseline chose (refitted on the whole training part)."""
    values = np.asarray(y, dtype=np.float32).astype(np.float64)
    x_train, t_train = lagged(values, window, n_train, window)
    x_test, _ = lagged(values, n_train, len(values), window)
    return x_test @ ridge_fit(x_train, t_train, penalty)


def with_ridge_baseline(metrics: dict[str, float], y: np.ndarray, n_train: int) -> dict[str, float]:
    """forecaster_metrics' figures plus the ridge AR's (on its own validation part) and the forecaster's ratio to it."""
    ridge = ridge_ar_baseline(y, n_train, ridge_validation_size(n_train))
    return {**metrics, **ridge, "test_mse_over_ridge_ar": metrics["test_mse"] / ridge["ridge_ar_mse"]}


PLOTTED_TEST_POINTS = 200  # a window of the test part where four lines can still be told apart


def prediction_table(test: pd.DataFrame, series: dict[str, np.ndarray], ridge: np.ndarray,
                     points: int = PLOTTED_TEST_POINTS) -> pd.DataFrame:
    """plots/forecaster/predictions.csv: the first `points` of the test part: x, the noisy target, the clean
    signal, the forecaster's and the ridge AR's one-step predictions (the metrics cover every test target). The
    ridge AR is the linear peer drawn: the least-squares AR over a long window overfits far off the chart."""
    return pd.DataFrame({"x": test["x"].to_numpy(), "y": series["target"], "clean": test["clean"].to_numpy(),
                         "forecaster": series["prediction"], "ridge_ar": ridge}).iloc[:points]

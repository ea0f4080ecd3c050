"""The forecaster as an MLflow pyfunc model: recent values in, a multi-step forecast out, within limits.

`mlflow.pyfunc.load_model("models:/rnnpipe-forecaster@champion").predict(pd.DataFrame({"value": recent}),
params={"horizon": 50})` reads the rows as one series, oldest first (at least the model's window), and returns
`step` and `forecast` for each of the next `horizon` steps, each prediction fed back as the newest input. The model
is logged from code (served_model.py beside this file) with the checkpoint and this package, so loading it
unpickles nothing; the checkpoint's sha256 and the request limits (params.yaml `serving.forecaster`) travel in its
model_config. A request beyond a limit is refused with HTTP 400 naming the field, the value and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from rnnpipe.forecaster.params import ForecasterServingParams
from rnnpipe.core.serving import (integer_param, limit_source, model_settings, read_limits, refuse, row_count,
                                  verify_checkpoint)
from rnnpipe.forecaster.forecast import recursive_forecast

MODEL_CODE = Path(__file__).with_name("served_model.py")
DEFAULT_HORIZON = 20
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("double", "value")]),
    outputs=Schema([ColSpec("long", "step"), ColSpec("double", "forecast")]),
    params=ParamSchema([ParamSpec("horizon", "long", DEFAULT_HORIZON)]),
)
Limits = ForecasterServingParams


def _source(key: str) -> str:
    return limit_source("forecaster", key)


def input_example(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"value": np.asarray(values, dtype=np.float64)})


def read_values(model_input: Any, window: int, limits: Limits) -> np.ndarray:
    """The series as sent, checked: enough values, not too many, each finite in float32 (what the model computes
    in: 1e39 is a finite float64 but inf there) and within ±max_abs_value. Returns the last `window` values."""
    if not isinstance(model_input, pd.DataFrame) or "value" not in model_input.columns:
        raise refuse("the request has no column 'value': send {\"dataframe_split\": {\"columns\": [\"value\"], "
                     "\"data\": [[0.1], [0.2], ...]}}")
    if len(model_input) < window:
        raise refuse(f"the request has {len(model_input)} values (rows): at least {window} finite values needed, "
                     f"oldest first (the model's window, forecaster.seq_length)")
    row_count(len(model_input), window, limits.max_rows, "values (rows)", _source("max_rows"))
    try:
        values = np.asarray(model_input["value"], dtype=np.float64)
    except (TypeError, ValueError):
        raise refuse("value: every row must be a number") from None
    bound = limits.max_abs_value
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(values.astype(np.float32)) | (np.abs(values) > bound)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise refuse(f"value in row {row} = {float(values[row])!r} is invalid: allowed are finite numbers in "
                     f"[-{bound:g}, {bound:g}] ({_source('max_abs_value')}; the model computes in float32)")
    return values[-window:]


class ForecasterSeries(PythonModel):
    """Forecasts `horizon` steps after the series in `value`, with the forecaster from the logged checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from rnnpipe.forecaster.model import load_forecaster

        digest, limits = model_settings(context.model_config, "forecaster")
        verify_checkpoint(context.artifacts["checkpoint"], digest, "forecaster")
        self.limits = read_limits(Limits, limits, "forecaster")
        self.config, self.model = load_forecaster(context.artifacts["checkpoint"])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        horizon = integer_param(params or {}, "horizon", DEFAULT_HORIZON, 1, self.limits.max_horizon,
                                _source("max_horizon"))
        recent = read_values(model_input, self.config.seq_length, self.limits)
        forecast = recursive_forecast(self.model, recent, horizon)
        if not np.isfinite(forecast).all():
            step = int(np.flatnonzero(~np.isfinite(forecast))[0]) + 1
            raise refuse(f"the forecast is not finite from step {step} of horizon={horizon}: the values sent are "
                         f"too far from what the model was trained on; send values nearer its training range")
        return pd.DataFrame({"step": np.arange(1, horizon + 1), "forecast": forecast})

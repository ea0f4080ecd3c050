"""The forecaster as an MLflow pyfunc model: recent values in, a multi-step forecast out.

`mlflow.pyfunc.load_model("models:/rnnpipe-forecaster@champion").predict(pd.DataFrame({"value": recent}),
params={"horizon": 50})` reads the rows as one series, oldest first (at least the model's window), and returns
`step` and `forecast` for each of the next `horizon` steps, each prediction fed back as the newest input.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from rnnpipe.forecaster.forecast import recursive_forecast

DEFAULT_HORIZON = 20
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("double", "value")]),
    outputs=Schema([ColSpec("long", "step"), ColSpec("double", "forecast")]),
    params=ParamSchema([ParamSpec("horizon", "long", DEFAULT_HORIZON)]),
)


def input_example(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"value": np.asarray(values, dtype=np.float64)})


class ForecasterSeries(PythonModel):
    """Forecasts `horizon` steps after the series in `value`, with the forecaster from the logged checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from rnnpipe.forecaster.model import load_forecaster

        self.config, self.model = load_forecaster(context.artifacts["checkpoint"])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        horizon = int((params or {}).get("horizon", DEFAULT_HORIZON))
        values = np.asarray(model_input["value"], dtype=np.float64)
        window = self.config.seq_length
        if len(values) < window or not np.isfinite(values).all() or horizon < 1:
            raise ValueError(f"{len(values)} values with horizon {horizon}: allowed are at least {window} finite "
                             f"values (the model's window), oldest first, and a horizon >= 1")
        forecast = recursive_forecast(self.model, values[-window:], horizon)
        return pd.DataFrame({"step": np.arange(1, horizon + 1), "forecast": forecast})

"""Tests for the served forecaster (rnnpipe.forecaster.serving): inputs finite in float32 and in range, limits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModelContext

from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.errors import CheckpointError
from rnnpipe.core.io import file_digest
from rnnpipe.forecaster.forecast import recursive_forecast
from rnnpipe.forecaster.serving import ForecasterSeries, Limits, read_values
from tests.builders import make_forecaster

torch.set_num_threads(1)

LIMITS = Limits(max_horizon=50, max_rows=100, max_abs_value=1e6)
WINDOW = 10


def refusal(call, *args) -> str:
    with pytest.raises(MlflowException) as info:
        call(*args)
    assert info.value.get_http_status_code() == 400 and "\n" not in info.value.message
    return info.value.message


def series(last: float, length: int = 12) -> pd.DataFrame:
    values = np.linspace(-1, 1, length)
    values[-1] = last
    return pd.DataFrame({"value": values})


@pytest.mark.parametrize("last, shown", [(float("nan"), "nan"), (float("inf"), "inf"), (-float("inf"), "-inf"),
                                         (1e39, "1e+39"), (1e300, "1e+300"), (2e6, "2000000.0")])
def test_a_value_not_finite_in_float32_or_out_of_range_is_refused(last, shown):
    message = refusal(read_values, series(last), WINDOW, LIMITS)
    assert f"value in row 11 = {shown} is invalid: allowed are finite numbers in [-1e+06, 1e+06]" in message
    assert "serving.forecaster.max_abs_value in params.yaml" in message


def test_a_value_at_the_bound_is_accepted_and_only_the_window_is_kept():
    values = read_values(series(-1e6), WINDOW, LIMITS)
    assert len(values) == WINDOW and values[-1] == -1e6


def test_too_few_and_too_many_values_are_refused():
    assert "the request has 9 values (rows): at least 10 finite values needed" in \
        refusal(read_values, series(0.0, 9), WINDOW, LIMITS)
    assert "the request has 101 values (rows): at most 100 (serving.forecaster.max_rows in params.yaml)" in \
        refusal(read_values, series(0.0, 101), WINDOW, LIMITS)


def test_a_request_without_a_value_column_is_refused():
    assert "no column 'value'" in refusal(read_values, pd.DataFrame({"y": [1.0] * 12}), WINDOW, LIMITS)


@pytest.fixture
def served(tmp_path):
    torch.manual_seed(0)
    model = make_forecaster(cell="gru", hidden_size=6, seq_length=WINDOW)
    path = tmp_path / "model.pt"
    save_model(path, model.config, model)
    context = PythonModelContext(artifacts={"checkpoint": str(path)},
                                 model_config={"checkpoint_sha256": file_digest(path), "limits": LIMITS.model_dump()})
    served = ForecasterSeries()
    served.load_context(context)
    return model.eval(), served, context


def test_the_served_forecast_is_recursive_forecast(served):
    model, served, context = served
    answer = served.predict(context, series(0.5, 30), {"horizon": 7})
    assert answer["step"].tolist() == list(range(1, 8))
    np.testing.assert_array_equal(answer["forecast"].to_numpy(),
                                  recursive_forecast(model, series(0.5, 30)["value"].to_numpy()[-WINDOW:], 7))


@pytest.mark.parametrize("horizon, expected", [
    (1_000_000_000, "horizon=1000000000 is too large: at most 50 (serving.forecaster.max_horizon in params.yaml)"),
    (0, "horizon=0 is too small: at least 1")])
def test_a_horizon_beyond_its_limit_is_refused(served, horizon, expected):
    _, served, context = served
    assert expected in refusal(served.predict, context, series(0.5), {"horizon": horizon})


def test_a_forecast_that_is_not_finite_is_refused(served):
    model, served, context = served
    with torch.no_grad():
        served.model.net.head.bias.fill_(float("inf"))  # whatever overflows inside, the output check is last
    assert "the forecast is not finite from step 1 of horizon=3" in \
        refusal(served.predict, context, series(0.5), {"horizon": 3})


def test_a_checkpoint_changed_after_logging_is_refused_at_load(tmp_path):
    model = make_forecaster(seq_length=WINDOW)
    path = tmp_path / "model.pt"
    save_model(path, model.config, model)
    digest = file_digest(path)
    with torch.no_grad():
        model.net.head.bias.add_(1.0)
    save_model(path, model.config, model)  # a valid checkpoint, but not the one logged
    context = PythonModelContext(artifacts={"checkpoint": str(path)},
                                 model_config={"checkpoint_sha256": digest, "limits": LIMITS.model_dump()})
    with pytest.raises(CheckpointError, match=f"was logged with {digest}"):
        ForecasterSeries().load_context(context)

"""Tests for what both served models share (rnnpipe.core.serving) and the params.yaml `serving` section."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

from rnnpipe.core.errors import CheckpointError, ParamsError
from rnnpipe.core.io import file_digest
from rnnpipe.params import parse_params
from rnnpipe.core.serving import (choice_param, integer_param, model_settings, number_param, refuse, row_count,
                                  verify_checkpoint)

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def refusal(call, *args) -> str:
    with pytest.raises(MlflowException) as info:
        call(*args)
    assert info.value.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE)
    assert info.value.get_http_status_code() == 400
    return info.value.message


def test_a_refusal_is_an_http_400_without_a_stack_trace():
    exc = refuse("n_chars=5 is too large")
    assert exc.get_http_status_code() == 400 and "stack_trace" not in exc.serialize_as_json()


@pytest.mark.parametrize("value, expected", [
    (1_000_000_000, "n_chars=1000000000 is too large: at most 2000 (serving.charrnn.max_n_chars in params.yaml)"),
    (0, "n_chars=0 is too small: at least 1"),
    ("12", "n_chars='12' is not an integer: allowed are integers from 1 to 2000"),
    (True, "n_chars=True is not an integer"),
    (2.5, "n_chars=2.5 is not an integer"),
])
def test_an_integer_param_names_the_field_the_value_and_the_allowed_range(value, expected):
    message = refusal(integer_param, {"n_chars": value}, "n_chars", 200, 1, 2000,
                      "serving.charrnn.max_n_chars in params.yaml")
    assert expected in message


def test_an_integer_param_takes_its_default_and_whole_floats():
    assert integer_param({}, "n_chars", 200, 1, 2000) == 200
    assert integer_param({"n_chars": 30.0}, "n_chars", 200, 1, 2000) == 30


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, 1e9, "hot", None])
def test_a_number_param_must_be_finite_and_in_range(value):
    assert "temperature=" in refusal(number_param, {"temperature": value}, "temperature", 0.8, 0.01, 100.0)


def test_a_choice_param_lists_the_choices():
    message = refusal(choice_param, {"method": "beam"}, "method", "top_k", ("greedy", "top_k"))
    assert message == "method='beam' is invalid: allowed is one of greedy, top_k"


def test_row_count_names_both_bounds():
    assert "at least 10 needed" in refusal(row_count, 3, 10, 100, "values (rows)", "x")
    assert "5000 prompts (rows): at most 32 (key)" in refusal(row_count, 5000, 1, 32, "prompts (rows)", "key")


def test_a_changed_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    digest = file_digest(path)
    verify_checkpoint(path, digest, "charrnn")
    path.write_bytes(b"weightz")
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(path, digest, "charrnn")
    message = str(info.value)
    assert "has sha256" in message and digest in message and "is refused" in message and "\n" not in message


def test_a_model_without_digest_or_limits_is_refused():
    with pytest.raises(CheckpointError, match="carries no checkpoint_sha256 and limits"):
        model_settings({"limits": {}}, "forecaster")
    assert model_settings({"checkpoint_sha256": "ab", "limits": {"max_rows": 1}}, "forecaster") == \
        ("ab", {"max_rows": 1})


# --- params.yaml `serving` ------------------------------------------------------------------------------------------

@pytest.fixture
def raw():
    return copy.deepcopy(yaml.safe_load(REPO_PARAMS.read_text(encoding="utf-8")))


def params_error(raw) -> str:
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_the_serving_section_parses(raw):
    serving = parse_params(raw).serving
    assert serving.charrnn.max_n_chars <= serving.charrnn.max_chars_per_request
    assert serving.forecaster.max_horizon >= 1 and serving.forecaster.max_abs_value > 0


@pytest.mark.parametrize("model, key, value, allowed", [
    ("charrnn", "max_n_chars", 0, "an integer >= 1"),
    ("charrnn", "max_rows", "32", "an integer >= 1"),
    ("forecaster", "max_horizon", -1, "an integer >= 1"),
    ("forecaster", "max_abs_value", float("inf"), "a number in (0, 3.40282e+38]"),
    ("forecaster", "max_abs_value", 1e39, "a number in (0, 3.40282e+38]"),
])
def test_a_bad_limit_is_one_line_naming_it(raw, model, key, value, allowed):
    raw["serving"][model][key] = value
    message = params_error(raw)
    assert f"serving.{model}.{key} = {value!r} is invalid" in message and allowed in message


def test_one_prompt_of_max_n_chars_must_fit_in_a_request(raw):
    raw["serving"]["charrnn"].update(max_n_chars=3000, max_chars_per_request=2000)
    message = params_error(raw)
    assert "serving.charrnn.max_n_chars = 3000 is invalid" in message and "max_chars_per_request (2000)" in message


def test_an_unknown_limit_is_named(raw):
    raw["serving"]["forecaster"]["max_values"] = 5
    assert "unknown key 'serving.forecaster.max_values'" in params_error(raw)


def test_limits_from_a_model_config_are_validated_like_params_yaml():
    from rnnpipe.forecaster.params import ForecasterServingParams
    from rnnpipe.core.serving import read_limits

    good = {"max_horizon": 10, "max_rows": 100, "max_abs_value": 5.0}
    assert read_limits(ForecasterServingParams, good, "forecaster").max_horizon == 10
    with pytest.raises(ParamsError) as info:
        read_limits(ForecasterServingParams, {**good, "max_horizon": "lots"}, "forecaster")
    assert str(info.value) == ("model_config limits of the forecaster model: max_horizon = 'lots' is invalid: allowed "
                               "is an integer >= 1")

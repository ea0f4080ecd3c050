"""What both served models share: refusals that `mlflow models serve` answers with HTTP 400, request params read
strictly against their limits, and the logged checkpoint checked against the digest the model was logged with.

A refusal is MLflow's own MlflowException with INVALID_PARAMETER_VALUE: the scoring server answers it with
status 400 and its message, and no stack trace. Any other exception becomes a generic "unexpected error" whose
reason is only in the trace, so every check of a request raises through `refuse`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, TypeVar

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from pydantic import BaseModel, ValidationError

from rnnpipe.core.errors import CheckpointError, ParamsError
from rnnpipe.core.io import file_digest
from rnnpipe.core.params import error_message

CHECKPOINT_DIGEST_KEY = "checkpoint_sha256"  # in the logged model's model_config, beside "limits"
Limits = TypeVar("Limits", bound=BaseModel)


def refuse(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def limit_source(kind: str, key: str) -> str:
    return f"serving.{kind}.{key} in params.yaml"


def integer_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int,
                  high_source: Optional[str] = None) -> int:
    """params[name] (or the default) as an int in [low, high]; a refusal names the value and the range, and where
    the upper bound comes from."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise refuse(f"{name}={value!r} is not an integer: allowed are integers from {low} to {high}")
    if value < low:
        raise refuse(f"{name}={value} is too small: at least {low}")
    if value > high:
        where = f" ({high_source})" if high_source else ""
        raise refuse(f"{name}={value} is too large: at most {high}{where}")
    return value


def number_param(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    """params[name] (or the default) as a finite float in [low, high]."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise refuse(f"{name}={value!r} is invalid: allowed are numbers from {low:g} to {high:g}")
    return float(value)


def choice_param(params: Mapping[str, Any], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in choices:
        raise refuse(f"{name}={value!r} is invalid: allowed is one of {', '.join(choices)}")
    return str(value)


def row_count(count: int, low: int, high: int, what: str, high_source: str) -> None:
    if count < low:
        raise refuse(f"the request has {count} {what}: at least {low} needed")
    if count > high:
        raise refuse(f"the request has {count} {what}: at most {high} ({high_source})")


def model_settings(model_config: Optional[Mapping[str, Any]], kind: str) -> tuple[str, Mapping[str, Any]]:
    """The checkpoint digest and the request limits the training stage logged with the model."""
    settings = dict(model_config or {})
    digest, limits = settings.get(CHECKPOINT_DIGEST_KEY), settings.get("limits")
    if not isinstance(digest, str) or not isinstance(limits, Mapping):
        raise CheckpointError(f"this {kind} model carries no {CHECKPOINT_DIGEST_KEY} and limits in its model_config "
                              f"(it was not logged by rnnpipe's training stage); log it again with "
                              f"`dvc repro -f -s train_{kind}` and tracking on")
    return digest, limits


def read_limits(limits_type: type[Limits], raw: Mapping[str, Any], kind: str) -> Limits:
    """The limits in a model's model_config (as logged, or as MLFLOW_PYFUNC_INFERENCE_CONFIG overrides them at
    load), validated like params.yaml's `serving.<kind>` section, a problem in one line."""
    try:
        return limits_type.model_validate(dict(raw))
    except ValidationError as exc:
        raise ParamsError(error_message(limits_type, exc.errors()[0], f"model_config limits of the {kind} model")
                          ) from None


def verify_checkpoint(path: str | Path, expected_sha256: str, kind: str) -> None:
    """The checkpoint inside a logged model is the one it was logged with: nothing else is ever loaded."""
    actual = file_digest(path)
    if actual != expected_sha256:
        raise CheckpointError(f"checkpoint {path} has sha256 {actual}, but the model was logged with "
                              f"{expected_sha256}: the file was changed after logging and is refused; log the "
                              f"model again with `dvc repro -f -s train_{kind}` and tracking on")

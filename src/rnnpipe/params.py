"""params.yaml as a whole: every model's sections (each model package owns its own) beside the shared ones.

`load_params` checks the whole file before a stage does any work; the first problem becomes one line naming the key,
the value and what is allowed (rnnpipe.core.params holds that machinery and the shared sections).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from rnnpipe.charrnn.params import (CharEvalParams, CharRNNParams, CharRNNServingParams, CorpusParams, GenerateParams,
                                    check_charrnn, check_charrnn_size, check_corpus)
from rnnpipe.core.errors import ParamsError
from rnnpipe.core.params import (PARAMS_FILE, RuntimeParams, Section, TrackingParams, first_error,
                                 read_params_file, shown_path)
from rnnpipe.forecaster.params import (ForecasterParams, ForecasterServingParams, ForecastParams, check_forecaster,
                                       check_forecaster_size)
from rnnpipe.series.params import ARParams, SeriesParams, check_series


class ServingParams(Section):
    charrnn: CharRNNServingParams
    forecaster: ForecasterServingParams


class Params(Section):
    runtime: RuntimeParams
    series: SeriesParams
    ar: ARParams
    forecaster: ForecasterParams
    forecast: ForecastParams
    corpus: CorpusParams
    charrnn: CharRNNParams
    charrnn_eval: CharEvalParams
    generate: GenerateParams
    tracking: TrackingParams
    serving: ServingParams

    @model_validator(mode="after")
    def _cross_checks(self) -> "Params":
        """Constraints that tie several keys together, in the order a reader meets them."""
        check_series(self.series)
        check_forecaster(self.series, self.forecaster, self.forecast)
        check_charrnn(self.charrnn)
        check_forecaster_size(self.forecaster)
        check_charrnn_size(self.charrnn)
        check_corpus(self.corpus)
        return self


def parse_params(raw: Any, source: str = PARAMS_FILE) -> Params:
    """Validated params; the first problem is one line that starts with `source:` (the file it came from)."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(first_error(Params, exc, source)) from None
    except ParamsError as exc:  # a cross-field rule (rnnpipe.core.params.fail) names params.yaml
        if source == PARAMS_FILE:
            raise
        raise ParamsError(source + str(exc).removeprefix(PARAMS_FILE)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    return parse_params(read_params_file(path), shown_path(path))

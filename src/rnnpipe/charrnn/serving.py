"""The char-RNN as an MLflow pyfunc model: prompts in, text out, within limits.

`mlflow.pyfunc.load_model("models:/rnnpipe-charrnn@champion").predict(pd.DataFrame({"prompt": ["мой дядя самых"]}),
params={"n_chars": 80})` returns each prompt (cleaned like the corpus) followed by its continuation; `mlflow models
serve` answers the same as JSON. The model is logged from code (served_model.py beside this file) with the
checkpoint and this package, so loading it unpickles nothing; the checkpoint's sha256 and the request limits
(params.yaml `serving.charrnn`) travel in its model_config. A request beyond a limit is refused with HTTP 400
naming the field, the value and what is allowed (docs/serving.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, get_args

import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from rnnpipe.charrnn.corpus import clean_text
from rnnpipe.charrnn.generate import Method, generate_text
from rnnpipe.charrnn.params import CharRNNServingParams
from rnnpipe.core.params import SEED_LIMIT
from rnnpipe.core.serving import (choice_param, integer_param, limit_source, model_settings, number_param,
                                  read_limits, refuse, row_count, verify_checkpoint)

MODEL_CODE = Path(__file__).with_name("served_model.py")
# Below 0.01 the scaled log-probabilities leave float64's range and sampling turns into NaNs; above 100 every
# character is about equally likely, which no one asks for on purpose.
TEMPERATURE_RANGE = (0.01, 100.0)
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "prompt")]),
    outputs=Schema([ColSpec("string", "text")]),
    params=ParamSchema([ParamSpec("n_chars", "long", 200),
                        ParamSpec("temperature", "double", 0.8),
                        ParamSpec("top_k", "long", 5),
                        ParamSpec("seed", "long", 0),
                        ParamSpec("method", "string", "top_k")]),
)
# What a request that leaves a param out gets: the signature's defaults, which MLflow shows with the model.
DEFAULT = {spec.name: spec.default for spec in SIGNATURE.params.params}
INPUT_EXAMPLE = pd.DataFrame({"prompt": ["мой дядя самых"]})
Limits = CharRNNServingParams


def _source(key: str) -> str:
    return limit_source("charrnn", key)


def read_settings(params: Optional[dict[str, Any]], rows: int, limits: Limits, vocab_size: int) -> dict[str, Any]:
    """The request's params, each checked against its range and the model's limits, before any work is done."""
    given = params or {}
    row_count(rows, 1, limits.max_rows, "prompts (rows)", _source("max_rows"))
    n_chars = integer_param(given, "n_chars", DEFAULT["n_chars"], 1, limits.max_n_chars, _source("max_n_chars"))
    if rows * n_chars > limits.max_chars_per_request:
        raise refuse(f"n_chars={n_chars} for {rows} prompts is {rows * n_chars} characters to generate: at most "
                     f"{limits.max_chars_per_request} per request ({_source('max_chars_per_request')}); send fewer "
                     f"prompts or a smaller n_chars")
    return {"n_chars": n_chars,
            "method": choice_param(given, "method", DEFAULT["method"], get_args(Method)),
            "temperature": number_param(given, "temperature", DEFAULT["temperature"], *TEMPERATURE_RANGE),
            "top_k": integer_param(given, "top_k", DEFAULT["top_k"], 1, vocab_size),
            "seed": integer_param(given, "seed", DEFAULT["seed"], 0, SEED_LIMIT - 1)}


def read_prompt(prompt: Any, row: int, limits: Limits, vocab: list[str]) -> str:
    """One prompt as sent → cleaned like the corpus; anything else than text the model can read is refused."""
    if not isinstance(prompt, str):
        raise refuse(f"prompt in row {row} = {prompt!r} is not text: allowed are strings of 1 to "
                     f"{limits.max_prompt_chars} characters")
    if len(prompt) > limits.max_prompt_chars:
        raise refuse(f"prompt in row {row} has {len(prompt)} characters: at most {limits.max_prompt_chars} "
                     f"({_source('max_prompt_chars')})")
    cleaned = clean_text(prompt, strip=False).text
    if not cleaned.strip():
        raise refuse(f"prompt in row {row} = {prompt[:40]!r}: nothing is left after cleaning it like the corpus; "
                     f"allowed are letters, digits and .,?;:")
    missing = sorted(set(cleaned) - set(vocab))
    if missing:
        raise refuse(f"prompt in row {row} = {prompt[:40]!r} has characters outside the model's vocabulary: "
                     f"{''.join(missing)!r}; allowed are {''.join(vocab)!r}")
    return cleaned


class CharRNNText(PythonModel):
    """Continues each prompt (cleaned like the corpus) with the char-RNN from the logged checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from rnnpipe.charrnn.model import load_charrnn

        digest, limits = model_settings(context.model_config, "charrnn")
        verify_checkpoint(context.artifacts["checkpoint"], digest, "charrnn")
        self.limits = read_limits(Limits, limits, "charrnn")
        self.config, self.model = load_charrnn(context.artifacts["checkpoint"])
        _ = self.model.ngram  # estimated now, so the first request costs what every other one does

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame) or "prompt" not in model_input.columns:
            raise refuse("the request has no column 'prompt': send {\"dataframe_split\": {\"columns\": [\"prompt\"], "
                         "\"data\": [[\"your text\"]]}}")
        settings = read_settings(params, len(model_input), self.limits, self.config.vocab_size)
        prompts = [read_prompt(prompt, row, self.limits, self.config.vocab)
                   for row, prompt in enumerate(model_input["prompt"].tolist())]
        texts = [prompt + generate_text(self.model, self.config.vocab, prompt, settings["n_chars"], self.config.mode,
                                        self.config.seq_length, settings["method"], settings["temperature"],
                                        settings["top_k"], settings["seed"])
                 for prompt in prompts]
        return pd.DataFrame({"text": texts})

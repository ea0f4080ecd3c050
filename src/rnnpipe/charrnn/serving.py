"""The char-RNN as an MLflow pyfunc model: prompts in, text out.

`mlflow.pyfunc.load_model("models:/rnnpipe-charrnn@champion").predict(pd.DataFrame({"prompt": ["мой дядя самых"]}),
params={"n_chars": 80})` returns each prompt followed by its continuation; `mlflow models serve` answers the same
as JSON. The logged model carries the checkpoint and this package (code_paths), so it loads anywhere with torch.
"""
from __future__ import annotations

from typing import Any, Optional, get_args

import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from rnnpipe.charrnn.generate import Method, generate_text

DEFAULTS = {"n_chars": 200, "temperature": 0.8, "top_k": 5, "seed": 0, "method": "top_k"}
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "prompt")]),
    outputs=Schema([ColSpec("string", "text")]),
    params=ParamSchema([ParamSpec("n_chars", "long", DEFAULTS["n_chars"]),
                        ParamSpec("temperature", "double", DEFAULTS["temperature"]),
                        ParamSpec("top_k", "long", DEFAULTS["top_k"]),
                        ParamSpec("seed", "long", DEFAULTS["seed"]),
                        ParamSpec("method", "string", DEFAULTS["method"])]),
)
INPUT_EXAMPLE = pd.DataFrame({"prompt": ["мой дядя самых"]})


class CharRNNText(PythonModel):
    """Continues each prompt (cleaned like the corpus) with the char-RNN from the logged checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from rnnpipe.charrnn.model import load_charrnn

        self.config, self.model = load_charrnn(context.artifacts["checkpoint"])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        from rnnpipe.charrnn.generate import clean_prompt

        settings = {**DEFAULTS, **(params or {})}
        if settings["method"] not in get_args(Method):
            raise ValueError(f"method = {settings['method']!r}: allowed is {', '.join(get_args(Method))}")
        if int(settings["n_chars"]) < 1 or float(settings["temperature"]) <= 0 or int(settings["top_k"]) < 1:
            raise ValueError(f"n_chars {settings['n_chars']}, temperature {settings['temperature']}, top_k "
                             f"{settings['top_k']}: allowed are n_chars >= 1, temperature > 0, top_k >= 1")
        texts = []
        for prompt in model_input["prompt"]:
            cleaned = clean_prompt(str(prompt), self.config.vocab)
            continuation = generate_text(self.model, self.config.vocab, cleaned, int(settings["n_chars"]),
                                         self.config.mode, self.config.seq_length, settings["method"],
                                         float(settings["temperature"]), int(settings["top_k"]),
                                         int(settings["seed"]))
            texts.append(cleaned + continuation)
        return pd.DataFrame({"text": texts})

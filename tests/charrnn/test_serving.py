"""Tests for the served char-RNN (rnnpipe.charrnn.serving): limits and reasons, checked before any work."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModelContext

from rnnpipe.charrnn.generate import generate_text
from rnnpipe.charrnn.serving import CharRNNText, Limits, read_prompt, read_settings
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.errors import CheckpointError
from rnnpipe.core.io import file_digest
from rnnpipe.params import load_params
from tests.builders import make_charrnn

torch.set_num_threads(1)

VOCAB = list(" абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
LIMITS = Limits(max_n_chars=100, max_prompt_chars=50, max_rows=4, max_chars_per_request=200)


def refusal(call, *args) -> str:
    with pytest.raises(MlflowException) as info:
        call(*args)
    assert info.value.get_http_status_code() == 400 and "\n" not in info.value.message
    return info.value.message


@pytest.mark.parametrize("params, rows, expected", [
    ({"n_chars": 1_000_000_000}, 1,
     "n_chars=1000000000 is too large: at most 100 (serving.charrnn.max_n_chars in params.yaml)"),
    ({"n_chars": 80}, 3, "n_chars=80 for 3 prompts is 240 characters to generate: at most 200 per request "
                         "(serving.charrnn.max_chars_per_request in params.yaml)"),
    ({}, 5000, "the request has 5000 prompts (rows): at most 4 (serving.charrnn.max_rows in params.yaml)"),
    ({}, 0, "the request has 0 prompts (rows): at least 1 needed"),
    ({"method": "beam"}, 1, "method='beam' is invalid: allowed is one of greedy, temperature, top_k"),
    ({"temperature": 0.0}, 1, "temperature=0.0 is invalid: allowed are numbers from 0.01 to 100"),
    ({"top_k": 500}, 1, f"top_k=500 is too large: at most {len(VOCAB)}"),
    ({"seed": -1}, 1, "seed=-1 is too small: at least 0"),
])
def test_a_request_beyond_a_limit_is_refused_naming_the_field(params, rows, expected):
    assert expected in refusal(read_settings, {"n_chars": 20, **params}, rows, LIMITS, len(VOCAB))


def test_a_request_without_params_fits_the_default_limits():
    defaults = load_params(Path(__file__).resolve().parents[2] / "params.yaml").serving.charrnn
    assert read_settings(None, 1, defaults, len(VOCAB)) == {"n_chars": 200, "method": "top_k", "temperature": 0.8,
                                                            "top_k": 5, "seed": 0}


@pytest.mark.parametrize("prompt, expected", [
    (None, "prompt in row 2 = None is not text"),
    (42, "prompt in row 2 = 42 is not text"),
    (4.5, "prompt in row 2 = 4.5 is not text"),
    ("а" * 51, "prompt in row 2 has 51 characters: at most 50 (serving.charrnn.max_prompt_chars in params.yaml)"),
    ("!!!", "prompt in row 2 = '!!!': nothing is left after cleaning it like the corpus"),
    ("abc", "prompt in row 2 = 'abc' has characters outside the model's vocabulary: 'abc'"),
])
def test_a_prompt_that_is_not_text_the_model_reads_is_refused(prompt, expected):
    assert expected in refusal(read_prompt, prompt, 2, LIMITS, VOCAB)


def test_a_prompt_is_cleaned_like_the_corpus():
    assert read_prompt("Мой  ДЯДЯ! ", 0, LIMITS, VOCAB) == "мой дядя "


@pytest.fixture
def logged(tmp_path):
    """A checkpoint and the model_config the training stage logs beside it."""
    torch.manual_seed(0)
    model = make_charrnn(len(VOCAB), vocab=VOCAB, hidden_size=12, cell="gru", input="embedding", embedding_dim=6)
    path = tmp_path / "model.pt"
    save_model(path, model.config, model)
    config = {"checkpoint_sha256": file_digest(path), "limits": LIMITS.model_dump()}
    return model.eval(), PythonModelContext(artifacts={"checkpoint": str(path)}, model_config=config)


def test_the_served_model_continues_each_prompt_as_generate_text_does(logged):
    model, context = logged
    served = CharRNNText()
    served.load_context(context)
    answer = served.predict(context, pd.DataFrame({"prompt": ["Мой дядя", "где"]}),
                            {"n_chars": 15, "method": "top_k", "seed": 3})
    expected = [prompt + generate_text(model, VOCAB, prompt, 15, "many_to_many", 10, "top_k", 0.8, 5, 3)
                for prompt in ("мой дядя", "где")]
    assert answer["text"].tolist() == expected


def test_the_served_model_refuses_a_request_without_a_prompt_column(logged):
    _, context = logged
    served = CharRNNText()
    served.load_context(context)
    assert "no column 'prompt'" in refusal(served.predict, context, pd.DataFrame({"text": ["где"]}))


def test_a_checkpoint_changed_after_logging_is_refused_at_load(logged):
    _, context = logged
    path = context.artifacts["checkpoint"]
    data = bytearray(open(path, "rb").read())
    data[-30] ^= 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="the file was changed after logging and is refused"):
        CharRNNText().load_context(context)

"""Served models under hostile requests: real `mlflow models serve` processes of both @champion models, logged by a
real tiny pipeline run into a real SQLite store, answering real HTTP requests on 127.0.0.1.

Every refusal is HTTP 400 within 2 s with a message naming the field, and the server answers a good request right
after. The logged models are code plus a checkpoint: loading them unpickles nothing, and a checkpoint changed after
logging is refused. Every server started here is ended with its whole process group.
"""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.helpers import BIN, RepoCopy, model_server, post

pytestmark = pytest.mark.slow

MODELS = {"charrnn": "models:/rnnpipe-charrnn@champion", "forecaster": "models:/rnnpipe-forecaster@champion"}
WINDOW = 8  # TINY_PARAMS' forecaster.seq_length
GOOD = {"charrnn": {"dataframe_split": {"columns": ["prompt"], "data": [["мой дядя"]]}, "params": {"n_chars": 10}},
        "forecaster": {"dataframe_split": {"columns": ["value"], "data": [[0.1 * i] for i in range(WINDOW)]},
                       "params": {"horizon": 5}}}


def prompts(*rows: Any, **params: Any) -> dict:
    return {"dataframe_split": {"columns": ["prompt"], "data": [[row] for row in rows]}, "params": params}


def values(*rows: Any, **params: Any) -> dict:
    return {"dataframe_split": {"columns": ["value"], "data": [[row] for row in rows]}, "params": params}


def series_ending(last: float) -> dict:
    return values(*[0.1] * (WINDOW - 1), last)


# (model, request body, what the 400's message must say)
HOSTILE = [
    ("charrnn", prompts("мой", n_chars=1_000_000_000), "n_chars=1000000000 is too large: at most 1000 "
                                                       "(serving.charrnn.max_n_chars in params.yaml)"),
    ("charrnn", prompts(*["а" * 200] * 5000), "the request has 5000 prompts (rows): at most 32 "
                                              "(serving.charrnn.max_rows in params.yaml)"),
    ("charrnn", prompts(*["мой"] * 30, n_chars=500), "n_chars=500 for 30 prompts is 15000 characters to generate"),
    ("charrnn", prompts("мой " * 25_000), "prompt in row 0 has 100000 characters: at most 1000 "
                                          "(serving.charrnn.max_prompt_chars in params.yaml)"),
    ("charrnn", prompts(None), "prompt in row 0 = None is not text"),
    ("charrnn", prompts(42), "prompt in row 0 = 42 is not text"),
    ("charrnn", prompts("мой", method="beam"), "method='beam' is invalid: allowed is one of greedy, temperature, "
                                               "top_k"),
    ("charrnn", prompts("мой", temperature=float("nan")), "temperature=nan is invalid"),
    ("charrnn", prompts("мой", seed=-1), "seed=-1 is too small: at least 0"),
    ("charrnn", prompts("мой", n_chars="many"), "n_chars"),
    ("charrnn", '{"dataframe_split": {"columns": ["prompt"], "data": [["мой"]', "valid JSON"),
    ("forecaster", values(*[0.1] * WINDOW, horizon=1_000_000_000),
     "horizon=1000000000 is too large: at most 250 (serving.forecaster.max_horizon in params.yaml)"),
    ("forecaster", values(*[0.1] * 20_000), "the request has 20000 values (rows): at most 10000 "
                                            "(serving.forecaster.max_rows in params.yaml)"),
    ("forecaster", values(0.1, 0.2), "the request has 2 values (rows): at least 8 finite values needed"),
    ("forecaster", series_ending(float("nan")), f"value in row {WINDOW - 1} = nan is invalid"),
    ("forecaster", series_ending(float("inf")), f"value in row {WINDOW - 1} = inf is invalid"),
    ("forecaster", series_ending(1e39), f"value in row {WINDOW - 1} = 1e+39 is invalid: allowed are finite numbers "
                                        "in [-1e+06, 1e+06] (serving.forecaster.max_abs_value in params.yaml"),
    ("forecaster", series_ending(1e300), f"value in row {WINDOW - 1} = 1e+300 is invalid"),
    ("forecaster", '{"dataframe_split": [[[', "valid JSON"),
]


@pytest.fixture(scope="module")
def servers(tracked_run: RepoCopy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both @champion models of the shared tracked tiny run (tests/integration/conftest.py), each served."""
    logs = tmp_path_factory.mktemp("serve-logs")
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(model_server(tracked_run, uri, logs / f"serve-{kind}.log"))
               for kind, uri in MODELS.items()}


@pytest.mark.parametrize("kind, body, expected", HOSTILE,
                         ids=[f"{kind}-{expected[:40]}" for kind, _, expected in HOSTILE])
def test_a_hostile_request_is_refused_with_its_reason_and_the_server_goes_on(servers, kind, body, expected):
    status, answer, seconds = post(servers[kind], body)
    assert status == 400, answer
    assert expected in answer["message"], answer["message"]
    assert "stack_trace" not in answer and "unexpected error" not in answer["message"]
    assert seconds < 2, f"{seconds:.2f} s"
    status, answer, _ = post(servers[kind], GOOD[kind])
    assert status == 200, answer


def test_good_requests_are_answered(servers):
    _, text, _ = post(servers["charrnn"], GOOD["charrnn"])
    assert text["predictions"][0]["text"].startswith("мой дядя") and len(text["predictions"][0]["text"]) == 18
    _, forecast, _ = post(servers["forecaster"], GOOD["forecaster"])
    assert [row["step"] for row in forecast["predictions"]] == [1, 2, 3, 4, 5]


def model_folder(copy: RepoCopy, kind: str) -> Path:
    """The logged model's files in the store's artifact folder."""
    found = list((copy.root / "mlruns" / f"rnnpipe-{kind}" / "models").glob("*/artifacts/MLmodel"))
    assert len(found) == 1, found
    return found[0].parent


# Loads every model URI given on the command line and predicts once, recording every class an unpickler looks up
# (CPython's audit event pickle.find_class: any pickle of an object, cloudpickle's included, raises it).
AUDITED_LOAD = """
import sys
looked_up = []
sys.addaudithook(lambda event, args: looked_up.append(args[:2]) if event == "pickle.find_class" else None)
import mlflow.pyfunc, pandas as pd
for uri in sys.argv[1:]:
    model = mlflow.pyfunc.load_model(uri)
    column = "prompt" if "charrnn" in uri else "value"
    rows = ["мой дядя"] if column == "prompt" else [0.1 * i for i in range(8)]
    model.predict(pd.DataFrame({column: rows}))
print("classes unpickled:", looked_up)
"""


def test_the_logged_models_are_code_and_a_checkpoint_and_load_without_unpickling(tracked_run):
    for kind in MODELS:
        folder = model_folder(tracked_run, kind)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert "served_model.py" in files and "artifacts/model.pt" in files
        assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
        assert "python_model" not in (folder / "MLmodel").read_text()
    result = tracked_run.run(str(BIN / "python"), "-c", AUDITED_LOAD, *MODELS.values(),
                             env_extra={"MLFLOW_TRACKING_URI": f"sqlite:///{tracked_run.root / 'mlflow.db'}"})
    assert "classes unpickled: []" in result.stdout, result.stdout + result.stderr


def test_a_checkpoint_changed_inside_a_logged_model_is_refused(tracked_run, tmp_path):
    tampered = tmp_path / "charrnn-model"
    shutil.copytree(model_folder(tracked_run, "charrnn"), tampered)
    checkpoint = tampered / "artifacts" / "model.pt"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x01
    checkpoint.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "-c", "import sys, mlflow.pyfunc; mlflow.pyfunc.load_model(sys.argv[1])",
                             str(tampered)], capture_output=True, text=True, timeout=300, env=tracked_run.env)
    assert result.returncode != 0
    assert "the file was changed after logging and is refused" in result.stderr, result.stderr[-2000:]

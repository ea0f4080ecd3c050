"""MLflow tracking against a real `mlflow server` process and the default SQLite store."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from rnnpipe.charrnn.generate import generate_text
from rnnpipe.charrnn.model import load_charrnn
from rnnpipe.core.io import file_digest
from rnnpipe.tracking.runs import MODEL_TAG
from rnnpipe.forecaster.forecast import recursive_forecast
from rnnpipe.forecaster.model import load_forecaster
from tests.integration.helpers import free_port, make_copy, subprocess_env
from tests.integration.helpers import mlflow_server as start_mlflow_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(scope="module")
def tracked_pipeline(mlflow_server, tmp_path_factory, warm_stages):
    copy = make_copy(tmp_path_factory.mktemp("tracked") / "repo", {"tracking": {"enabled": True}},
                     env=subprocess_env(MLFLOW_TRACKING_URI=mlflow_server))
    copy.repro(env_extra=warm_stages)
    return copy, MlflowClient(mlflow_server)


def only_run(client: MlflowClient, experiment: str):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"experiment {experiment} missing"
    runs = client.search_runs([found.experiment_id])
    return runs


def test_each_training_stage_makes_one_run_with_every_param_and_per_epoch_metrics(tracked_pipeline):
    copy, client = tracked_pipeline
    params = copy.params()
    for kind, stage in (("forecaster", "train_forecaster"), ("charrnn", "train_charrnn")):
        runs = only_run(client, f"rnnpipe-{kind}")
        assert len(runs) == 1, kind
        run = runs[0]
        expected = {f"{kind}.{k}": str(v) for k, v in params[kind].items()}
        assert {k: v for k, v in run.data.params.items() if k.startswith(f"{kind}.")} == expected
        unit = "mse" if kind == "forecaster" else "bits_per_char"  # the unit is in the name
        for metric in (f"train_{unit}", f"val_{unit}"):
            history = client.get_metric_history(run.info.run_id, metric)
            assert [m.step for m in history] == list(range(1, params[kind]["epochs"] + 1)), (kind, metric)
        assert run.data.tags["dvc_stage"] == stage
        assert "dvc_exp_name" not in run.data.tags  # a plain dvc repro has none: no empty tag
        assert run.data.tags["git_commit"] != "unknown" and not run.data.tags["git_commit"].endswith("-dirty")
        assert run.info.run_name.startswith(params[kind]["cell"])  # says what it trained, not "sincere-mink-631"
        assert run.data.tags[MODEL_TAG] == file_digest(copy.root / f"models/{kind}/model.pt")
        assert any(k.startswith("data_md5.") for k in run.data.tags)
        assert {d.dataset.name for d in run.inputs.dataset_inputs} == (
            {"signal"} if kind == "forecaster" else {"corpus-train", "corpus-val"})


def test_evaluation_and_samples_attach_to_the_model_run(tracked_pipeline):
    copy, client = tracked_pipeline
    forecaster = only_run(client, "rnnpipe-forecaster")[0]
    evaluated = json.loads((copy.root / "metrics/forecaster.json").read_text())
    assert forecaster.data.metrics["test_mse"] == pytest.approx(evaluated["test_mse"])
    assert "forecast_mse_vs_clean" in forecaster.data.metrics
    root = {a.path for a in client.list_artifacts(forecaster.info.run_id)}
    assert {"loss.png", "predictions.png", "forecast.png"} <= root  # at the root: Compare shows them side by side
    assert "samples/forecast.csv" in {a.path for a in client.list_artifacts(forecaster.info.run_id, "samples")}

    charrnn = only_run(client, "rnnpipe-charrnn")[0]
    evaluated = json.loads((copy.root / "metrics/charrnn.json").read_text())
    assert charrnn.data.metrics["test_bits_per_char"] == pytest.approx(evaluated["bits_per_char"])
    assert {"loss.png", "samples.md"} <= {a.path for a in client.list_artifacts(charrnn.info.run_id)}


def test_registered_models_serve_what_a_user_wants_like_the_dvc_models(tracked_pipeline):
    copy, client = tracked_pipeline
    mlflow.set_tracking_uri(client.tracking_uri)
    config, local = load_charrnn(copy.root / "models/charrnn/model.pt")
    served = mlflow.pyfunc.load_model("models:/rnnpipe-charrnn@champion")
    got = served.predict(pd.DataFrame({"prompt": ["Мой дядя!"]}), params={"n_chars": 25, "method": "greedy"})
    expected = generate_text(local, config.vocab, "мой дядя", 25, config.mode, config.seq_length, "greedy")
    assert list(got["text"]) == ["мой дядя" + expected]  # cleaned like the corpus, then continued

    config, local = load_forecaster(copy.root / "models/forecaster/model.pt")
    recent = np.cos(np.linspace(0, 3, 30))
    served = mlflow.pyfunc.load_model("models:/rnnpipe-forecaster@champion")
    got = served.predict(pd.DataFrame({"value": recent}), params={"horizon": 7})
    assert list(got["step"]) == list(range(1, 8))
    np.testing.assert_allclose(got["forecast"], recursive_forecast(local, recent[-config.seq_length:], 7),
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(Exception, match="at least 8 finite values"):
        served.predict(pd.DataFrame({"value": recent[:3]}))


def test_two_experiments_give_two_runs_with_the_same_metric_keys(tracked_pipeline):
    copy, client = tracked_pipeline
    copy.dvc("exp", "run", "-S", "forecaster.hidden_size=6")
    runs = only_run(client, "rnnpipe-forecaster")
    assert len(runs) == 2
    assert {r.data.params["forecaster.hidden_size"] for r in runs} == {"4", "6"}
    # system/* are sampled every few seconds while a run is open: how many a short run gets depends on the machine
    model_keys = [{key for key in run.data.metrics if not key.startswith("system/")} for run in runs]
    assert model_keys[0] == model_keys[1]
    versions = client.search_model_versions("name='rnnpipe-forecaster'")
    assert len(versions) == 2 and all("test_mse" in v.tags and v.tags["eval_data_md5"] for v in versions)
    assert len(only_run(client, "rnnpipe-charrnn")) == 1  # no char-RNN stage reran


def test_default_store_is_sqlite_in_the_repo_with_absolute_artifact_root(tracked_run):
    copy = tracked_run  # a plain `dvc repro` with tracking on and no MLFLOW_TRACKING_URI
    database = copy.root / "mlflow.db"
    assert database.is_file()
    client = MlflowClient(f"sqlite:///{database}")
    experiment = client.get_experiment_by_name("rnnpipe-forecaster")
    assert experiment.artifact_location == (copy.root / "mlruns" / "rnnpipe-forecaster").as_uri()
    run = client.search_runs([experiment.experiment_id])[0]
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(copy.root / "mlruns")
    assert "mlflow.db" in copy.run("git", "check-ignore", "mlflow.db").stdout


@pytest.mark.parametrize("uri, message", [
    ("http://127.0.0.1:{port}", "is unreachable"),
    ("ftp://example.invalid/x", "is not usable"),
    ("sqlite:////nonexistent-folder-rnnpipe/mlflow.db", "is not usable"),
])
def test_unusable_tracking_stops_before_training_with_one_line(tmp_path, uri, message):
    uri = uri.format(port=free_port())
    copy = make_copy(tmp_path / "repo", {"tracking": {"enabled": True}},
                     env=subprocess_env(MLFLOW_TRACKING_URI=uri))
    result = copy.repro("train_forecaster", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and uri in errors[0]
    assert not (copy.root / "models/forecaster/model.pt").exists()

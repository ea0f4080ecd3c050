"""Registered models: promotion to @champion across runs, serving over real HTTP, a copied repository's store.

Real SQLite stores in temporary copies of the repository, real `dvc repro` / `dvc exp run`, and real
`mlflow models serve` processes on 127.0.0.1 answering real HTTP requests.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.helpers import BIN, RepoCopy, make_copy, model_server, post, subprocess_env

pytestmark = pytest.mark.slow


def versions(client: MlflowClient, name: str) -> dict[str, dict[str, str]]:
    return {str(v.version): v.tags for v in client.search_model_versions(f"name='{name}'")}


def champion(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias(name, "champion").version)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, warm_stages) -> tuple[RepoCopy, MlflowClient, list[str]]:
    """Four forecasters evaluated in turn: a weak one, a strong one, a weaker one, and one on other data."""
    copy = make_copy(tmp_path_factory.mktemp("registry") / "repo",
                     {"tracking": {"enabled": True}, "forecaster": {"epochs": 1}})
    outputs = [copy.repro("evaluate_forecaster", "forecast", env_extra=warm_stages).stdout]
    for change in ("forecaster.epochs=30", "forecaster.epochs=3", "series.seed=1"):
        outputs.append(copy.dvc("exp", "run", "-S", change, "evaluate_forecaster", env_extra=warm_stages).stdout)
    return copy, MlflowClient(f"sqlite:///{copy.root / 'mlflow.db'}"), outputs


def test_the_best_model_on_the_same_data_is_champion(registry):
    _, client, outputs = registry
    tags = versions(client, "rnnpipe-forecaster")
    assert sorted(tags, key=int) == ["1", "2", "3", "4"]
    same_data = {v: float(t["test_mse"]) for v, t in tags.items() if t["eval_data_md5"] == tags["1"]["eval_data_md5"]}
    assert set(same_data) == {"1", "2", "3"} and tags["4"]["eval_data_md5"] != tags["1"]["eval_data_md5"]
    assert same_data["2"] < same_data["1"] and same_data["3"] > same_data["2"]  # the scenario holds
    assert champion(client, "rnnpipe-forecaster") == "2"
    assert "is the first evaluated: now @champion" in outputs[0]
    assert "beats version 1" in outputs[1] and "does not beat @champion version 2" in outputs[2]
    assert "evaluated on other data" in outputs[3]  # never compared, whatever its figure
    for version in tags.values():  # every version says what it is
        assert {"test_mse", "eval_data_md5", "git_commit"} <= set(version)
    assert {tags[v].get("dvc_exp_name") for v in ("2", "3", "4")} != {None}


def test_promotion_is_idempotent(registry):
    copy, client, _ = registry
    before = versions(client, "rnnpipe-forecaster")
    rerun = copy.repro("--force", "evaluate_forecaster", "--single-item")
    assert versions(client, "rnnpipe-forecaster") == before and champion(client, "rnnpipe-forecaster") == "2"
    assert "registry: rnnpipe-forecaster version" in rerun.stdout


def test_the_registry_command_lists_every_version_and_the_champion(registry):
    copy, _, _ = registry
    listed = copy.run(str(BIN / "python"), "-m", "rnnpipe.tracking", "champions", env_extra={"PYTHONPATH": "src"}).stdout
    assert "rnnpipe-forecaster: @champion is version 2" in listed and listed.count("version ") >= 5


def serve_and_ask(copy: RepoCopy, model_uri: str, payload: dict, logs: Path) -> dict:
    """`mlflow models serve` as the README says, on 127.0.0.1; one real HTTP request; the server's group ended."""
    with model_server(copy, model_uri, logs / "serve.log") as url:
        status, answer, _ = post(url, payload, timeout=120)
    assert status == 200, answer
    return answer


def test_the_champion_forecaster_answers_an_http_request(registry, tmp_path):
    copy, _, _ = registry
    values = [0.1 * i for i in range(12)]
    answer = serve_and_ask(copy, "models:/rnnpipe-forecaster@champion",
                           {"dataframe_split": {"columns": ["value"], "data": [[v] for v in values]},
                            "params": {"horizon": 5}}, tmp_path)
    rows = answer["predictions"]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    assert all(isinstance(row["forecast"], float) for row in rows)


def test_the_champion_charrnn_continues_the_prompt_over_http(tracked_run, tmp_path):
    answer = serve_and_ask(tracked_run, "models:/rnnpipe-charrnn@champion",
                           {"dataframe_split": {"columns": ["prompt"], "data": [["мой дядя самых"]]},
                            "params": {"n_chars": 30, "seed": 1}}, tmp_path)
    text = answer["predictions"][0]["text"]
    assert text.startswith("мой дядя самых") and len(text) == len("мой дядя самых") + 30


def store_files(root: Path) -> list[Path]:
    """The files of a repository's MLflow store, but for the registered_model_meta that MLflow itself writes into a
    logged model's folder whenever any process loads it by a models:/ URI from a local store (the served-model tests
    do, on the other test worker)."""
    return sorted(p for p in (root / "mlruns").rglob("*") if p.name != "registered_model_meta")


def test_a_copied_repository_never_writes_into_the_original(tracked_run, tmp_path):
    original = tracked_run
    files_before = store_files(original.root)
    copy = RepoCopy(tmp_path / "repo", subprocess_env())
    shutil.copytree(original.root, copy.root, symlinks=True)  # all of it, as a user's `cp -a` would

    refused = copy.repro("--force", "train_forecaster", "--single-item", check=False)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode != 0 and len(errors) == 1, refused.stderr
    assert "came from another folder" in errors[0] and str(original.root / "mlruns") in errors[0]
    assert "mv mlflow.db mlflow.db.copied" in errors[0]
    assert store_files(original.root) == files_before

    (copy.root / "mlflow.db").rename(copy.root / "mlflow.db.copied")  # what the error says to do
    copy.repro("--force", "train_forecaster", "--single-item")
    client = MlflowClient(f"sqlite:///{copy.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rnnpipe-forecaster")
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.info.artifact_uri.startswith((copy.root / "mlruns").as_uri())
    assert store_files(original.root) == files_before

"""Tests for promotion to @champion (rnnpipe.tracking.registry) against a real MLflow SQLite store."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from rnnpipe.forecaster.descriptor import DESCRIPTOR as MODEL
from rnnpipe.tracking.registry import CHAMPION, DATA_TAG, current_champion, promote, summary

NAME = MODEL.experiment


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_registered_model(NAME)
    return client


def new_version(client: MlflowClient) -> str:
    """A training run that registered a version, as the train stages do."""
    experiment = client.get_experiment_by_name("x") or client.get_experiment(client.create_experiment("x"))
    run = client.create_run(experiment.experiment_id)
    client.create_model_version(NAME, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return run.info.run_id


def champion_of(client: MlflowClient) -> int:
    return int(current_champion(client, NAME).version)


def test_the_first_evaluated_version_becomes_champion_and_carries_its_figures(client):
    run = new_version(client)
    result = promote(client, MODEL, run, 0.02, "data-a", {"dvc_exp_name": "exp-1", "git_commit": "abc"})
    assert result.promoted and champion_of(client) == 1
    tags = client.get_model_version(NAME, "1").tags
    assert tags == {"test_mse": "0.02", DATA_TAG: "data-a", "dvc_exp_name": "exp-1", "git_commit": "abc"}
    assert "first evaluated" in result.line(NAME)


def test_evaluating_again_elsewhere_keeps_the_commit_and_experiment_the_version_was_trained_in(client):
    run = new_version(client)
    client.set_model_version_tag(NAME, "1", "git_commit", "abc")  # as training registered it, in experiment exp-1
    client.set_model_version_tag(NAME, "1", "dvc_exp_name", "exp-1")
    promote(client, MODEL, run, 0.02, "data-a", {"dvc_exp_name": "", "git_commit": "abc-dirty"})
    assert client.get_model_version(NAME, "1").tags == {"test_mse": "0.02", DATA_TAG: "data-a",
                                                        "dvc_exp_name": "exp-1", "git_commit": "abc"}


def test_a_better_version_takes_the_alias_and_a_worse_one_does_not(client):
    promote(client, MODEL, new_version(client), 0.02, "data-a")
    better = promote(client, MODEL, new_version(client), 0.015, "data-a")
    worse = promote(client, MODEL, new_version(client), 0.018, "data-a")
    assert better.promoted and not worse.promoted and champion_of(client) == 2
    assert "beats version 1" in better.reason and "does not beat @champion version 2" in worse.reason


def test_a_version_evaluated_on_other_data_is_never_compared(client):
    promote(client, MODEL, new_version(client), 0.02, "data-a")
    other = promote(client, MODEL, new_version(client), 0.001, "data-b")  # far better, other data
    assert not other.promoted and champion_of(client) == 1
    assert "other data" in other.reason and "promote forecaster 2" in other.reason


def test_promoting_again_changes_nothing(client):
    run = new_version(client)
    promote(client, MODEL, run, 0.02, "data-a")
    again = promote(client, MODEL, run, 0.02, "data-a")
    assert not again.promoted and champion_of(client) == 1 and f"is @{CHAMPION}" in again.reason
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1


def test_a_run_that_registered_nothing_is_skipped(client):
    experiment = client.create_experiment("y")
    run = client.create_run(experiment).info.run_id
    assert promote(client, MODEL, run, 0.02, "data-a") is None


def test_the_summary_names_the_champion_and_every_version(client):
    promote(client, MODEL, new_version(client), 0.02, "data-a")
    new_version(client)
    lines = summary(client, MODEL)
    assert lines[0] == f"{NAME}: @champion is version 1"
    assert "test_mse 0.02" in lines[1] and "<- champion" in lines[1] and "not evaluated" in lines[2]


def test_parallel_promotions_end_with_the_better_model_as_champion(tmp_path):
    """Two evaluations finishing together, without any lock: whatever the interleaving, the better one wins."""
    import threading

    uri = f"sqlite:///{tmp_path / 'race.db'}"
    MlflowClient(uri).create_registered_model(NAME)
    for round_ in range(8):
        clients = [MlflowClient(uri), MlflowClient(uri)]
        runs = [new_version(clients[0]), new_version(clients[0])]
        better, worse = 0.5 - 0.03 * round_ - 0.02, 0.5 - 0.03 * round_ - 0.01
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def evaluate(client: MlflowClient, run: str, value: float) -> None:
            start.wait()
            try:
                promote(client, MODEL, run, value, "data-a")
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        order = [(clients[0], runs[0], worse), (clients[1], runs[1], better)]
        if round_ % 2:
            order.reverse()
        threads = [threading.Thread(target=evaluate, args=args) for args in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        champion = current_champion(clients[0], NAME)
        assert champion.run_id == runs[1], f"round {round_}: @champion is the worse model (version {champion.version})"

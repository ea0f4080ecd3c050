"""Queued `dvc exp run` variants run by `dvc queue start -j 2`, all tracked in one store: SQLite or a server.

What these tests check is the queue and the store, so the workers run each experiment's stages in forks of the warm
stage server (as sweep trials do; tests/integration/test_warm.py holds its bytes to a cold run's)."""
from __future__ import annotations


import pytest
from mlflow.tracking import MlflowClient

from tests.integration.helpers import make_copy, mlflow_server, subprocess_env

pytestmark = pytest.mark.slow


def test_parallel_queue_completes_with_three_mlflow_runs(tmp_path, warm_stages):
    # One torch thread per worker: two workers with two threads each oversubscribe two cores badly.
    copy = make_copy(tmp_path / "repo", {"tracking": {"enabled": True}, "runtime": {"threads": 1}})
    for hidden in (3, 5, 7):
        copy.dvc("exp", "run", "--queue", "-S", f"forecaster.hidden_size={hidden}", "-n", f"hidden-{hidden}",
                 "evaluate_forecaster")  # the stages the varied param reaches; each logs to the one store
    status = copy.run_queue(2, env_extra=warm_stages)
    logs = "\n".join(copy.dvc("queue", "logs", f"hidden-{h}", check=False).stdout for h in (3, 5, 7))
    assert status.count("Success") == 3, f"{status}\n{logs[-5000:]}"
    assert "database is locked" not in logs

    client = MlflowClient(f"sqlite:///{copy.root / 'mlflow.db'}")  # the main repo's store, not a temp copy's
    experiment = client.get_experiment_by_name("rnnpipe-forecaster")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["forecaster.hidden_size"] for r in runs) == ["3", "5", "7"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["dvc_exp_name"] for r in runs} == {"hidden-3", "hidden-5", "hidden-7"}
    assert all("test_mse" in r.data.metrics for r in runs)  # evaluation attached to each model's run


def test_parallel_experiments_on_a_fresh_mlflow_server_both_succeed(tmp_path, warm_stages):
    """Two queued experiments starting together against a server that has no experiment yet: both workers create
    or find rnnpipe-forecaster, with no lock between them, and both succeed (the forecaster's stages only)."""
    with mlflow_server(tmp_path / "server") as url:
        copy = make_copy(tmp_path / "repo", {"tracking": {"enabled": True}, "runtime": {"threads": 1}},
                         env=subprocess_env(MLFLOW_TRACKING_URI=url))
        for hidden in (3, 5):
            copy.dvc("exp", "run", "--queue", "-S", f"forecaster.hidden_size={hidden}", "-n", f"fresh-{hidden}",
                     "evaluate_forecaster")
        status = copy.run_queue(2, env_extra=warm_stages)
        logs = "\n".join(copy.dvc("queue", "logs", f"fresh-{h}", check=False).stdout for h in (3, 5))
        assert status.count("Success") == 2, f"{status}\n{logs[-5000:]}"
        client = MlflowClient(url)
        assert [e.name for e in client.search_experiments(filter_string="name LIKE 'rnnpipe-%'")] == \
            ["rnnpipe-forecaster"]
        runs = client.search_runs([client.get_experiment_by_name("rnnpipe-forecaster").experiment_id])
        assert sorted(r.data.tags["dvc_exp_name"] for r in runs) == ["fresh-3", "fresh-5"]
        assert all(r.info.status == "FINISHED" and "test_mse" in r.data.metrics for r in runs)

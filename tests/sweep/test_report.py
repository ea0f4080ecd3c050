"""The training side of pruning, on a real Optuna study in SQLite: nothing happens outside a sweep; in a trial
whose validation loss is behind the median of the earlier trials, the stage stops with PRUNED_EXIT_CODE and the
trial keeps the epoch."""
from __future__ import annotations

import pytest

from rnnpipe.sweep import report


@pytest.fixture(autouse=True)
def fresh_trial(monkeypatch):
    monkeypatch.setattr(report, "_trial", None)
    for name in (report.PRUNER_ENV, report.STUDY_ENV, report.STORAGE_URL_ENV, report.TRIAL_ID_ENV):
        monkeypatch.delenv(name, raising=False)


def test_outside_a_sweep_it_does_nothing():
    report.report_epoch(1, 123.0)
    assert report._trial is None


def test_a_curve_behind_the_median_stops_the_stage(tmp_path, monkeypatch):
    import optuna

    url = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="s", storage=url)
    for losses in ([0.5, 0.3, 0.2], [0.6, 0.35, 0.25]):  # two finished trials give the median per epoch
        trial = study.ask()
        for epoch, loss in enumerate(losses, start=1):
            trial.report(loss, epoch)
        study.tell(trial, losses[-1])
    running = study.ask()
    monkeypatch.setenv(report.STORAGE_URL_ENV, url)
    monkeypatch.setenv(report.STUDY_ENV, "s")
    monkeypatch.setenv(report.TRIAL_ID_ENV, str(running._trial_id))
    monkeypatch.setenv(report.PRUNER_ENV, "2,2,1")  # 2 startup trials, warm-up 2 epochs, minimize

    report.report_epoch(1, 0.9)  # behind, but still warming up
    with pytest.raises(SystemExit) as stopped:
        report.report_epoch(2, 0.9)
    assert stopped.value.code == report.PRUNED_EXIT_CODE
    frozen = study._storage.get_trial(running._trial_id)
    assert frozen.user_attrs[report.PRUNED_ATTR] == 2 and frozen.intermediate_values == {1: 0.9, 2: 0.9}


def test_a_study_named_by_a_relative_sqlite_path_is_the_one_a_trial_in_its_own_workspace_reports_to(
        tmp_path, monkeypatch):
    from rnnpipe.sweep.storage import STORAGE_ENV, open_storage, storage_url

    repo = tmp_path / "repo"
    workspace = repo / ".dvc" / "tmp" / "exps" / "tmp1"  # where `dvc exp run --temp` runs a trial's stages
    workspace.mkdir(parents=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv(STORAGE_ENV, "sqlite:///studies/sweep.db")
    (repo / "studies").mkdir()
    url = storage_url(repo)  # what the agent opens, and hands to its trials
    import optuna

    study = optuna.create_study(study_name="s", storage=open_storage(url))
    running = study.ask()
    monkeypatch.chdir(workspace)
    monkeypatch.setenv(report.STORAGE_URL_ENV, url)
    monkeypatch.setenv(report.STUDY_ENV, "s")
    monkeypatch.setenv(report.TRIAL_ID_ENV, str(running._trial_id))
    monkeypatch.setenv(report.PRUNER_ENV, "2,2,1")

    report.report_epoch(1, 0.5)
    assert study._storage.get_trial(running._trial_id).intermediate_values == {1: 0.5}
    assert sorted(p.name for p in repo.rglob("*.db")) == ["sweep.db"]

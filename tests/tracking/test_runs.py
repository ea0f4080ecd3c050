"""Tests for MLflow conventions that need no store (rnnpipe.tracking): dirty flags, tags, the shared view."""
from __future__ import annotations

import json
import subprocess

import pytest

from rnnpipe.models import MODELS
from rnnpipe.tracking.runs import Tracker, shared_view_state
from rnnpipe.tracking.store import dvc_written_paths, git_commit


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_repo(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: x\n    outs:\n      - models/m.pt\n    metrics:\n      - metrics/m.json:\n"
        "          cache: false\n    plots:\n      - plots/t.csv:\n          cache: false\n", encoding="utf-8")
    for path in ("dvc.lock", "metrics/m.json", "plots/t.csv", "src/code.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("1\n", encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")


def test_what_dvc_writes_never_makes_the_commit_dirty(tmp_path):
    make_repo(tmp_path)
    clean = git_commit(tmp_path)
    for path in ("dvc.lock", "metrics/m.json", "plots/t.csv"):
        (tmp_path / path).write_text("2\n", encoding="utf-8")
    assert git_commit(tmp_path) == clean and not clean.endswith("-dirty")
    (tmp_path / "src/code.py").write_text("2\n", encoding="utf-8")
    assert git_commit(tmp_path) == clean + "-dirty"


def test_a_file_git_does_not_track_or_ignore_makes_the_commit_dirty(tmp_path):
    """A corpus of the user's that git never saw: checking out the commit would not bring it back."""
    make_repo(tmp_path)
    (tmp_path / ".gitignore").write_text("/mlflow.db\n", encoding="utf-8")
    git(tmp_path, "add", ".gitignore")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "ignore")
    clean = git_commit(tmp_path)
    (tmp_path / "mlflow.db").write_text("1\n", encoding="utf-8")
    assert git_commit(tmp_path) == clean
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts/mine.txt").write_text("1\n", encoding="utf-8")
    assert git_commit(tmp_path) == clean + "-dirty"


def test_in_a_dvc_experiment_the_commit_is_its_baseline_without_dirty(tmp_path, monkeypatch):
    """`dvc exp run -S` writes params.yaml, and the experiment's commit holds every change: the run names the
    baseline its experiment (tag dvc_exp_name) starts from."""
    make_repo(tmp_path)
    clean = git_commit(tmp_path)
    (tmp_path / "src/code.py").write_text("2\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)  # where the stage runs: the experiment's workspace, not the root it is given
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    assert git_commit(elsewhere) == clean
    (tmp_path / "mine.txt").write_text("1\n", encoding="utf-8")  # the experiment's commit does not hold it
    assert git_commit(elsewhere) == clean + "-dirty"


def test_dvc_written_paths_are_the_lock_the_outputs_and_their_gitignores(tmp_path):
    make_repo(tmp_path)
    assert dvc_written_paths(tmp_path) == {"dvc.lock", "models/m.pt", "models/.gitignore", "metrics/m.json",
                                           "metrics/.gitignore", "plots/t.csv", "plots/.gitignore"}


def test_stage_tags_leave_out_what_is_not_there(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("DVC_STAGE", "train_charrnn")
    assert Tracker.stage_tags() == {"dvc_stage": "train_charrnn"}


def test_the_shared_view_shows_each_models_headline_columns_sorted_by_its_test_metric():
    for model in MODELS.values():
        metrics, params = model.headline_metrics, model.headline_params
        view = json.loads(shared_view_state(model))
        assert view["orderByKey"] == f"metrics.`{metrics[0]}`" and view["orderByAsc"] is True
        assert {f"metrics.`{m}`" for m in metrics} | {f"params.`{p}`" for p in params} <= set(view["selectedColumns"])


def test_a_signal_during_a_store_write_takes_effect_right_after_it():
    import os
    import signal

    from rnnpipe.tracking.store import uninterrupted

    # As in a terminal: a runner started as a background job of a script has SIGINT ignored, and it stays ignored.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached_the_end = False
        with pytest.raises(KeyboardInterrupt):
            with uninterrupted():
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of a write
                reached_the_end = True
        assert reached_the_end and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, raise_interrupt)  # as training_run sets it
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            with uninterrupted():
                os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is raise_interrupt
    finally:
        signal.signal(signal.SIGTERM, previous)
    with uninterrupted():  # nothing arrived: nothing raised
        pass

"""Which experiment is a trial's: a clone may hold experiments of the same name under other commits (an earlier
study of the sweep), and the objective must come from the one the trial just made. Real git refs in a tmp repo."""
from __future__ import annotations

import os
import subprocess

from rnnpipe.sweep.trial import exp_ref, experiments_named


def git(root, *args, date="2026-01-01T00:00:00"):
    env = {**os.environ, "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env).stdout.strip()


def experiment(root, baseline: str, name: str, date: str) -> str:
    """An experiment commit filed as dvc exp run files it: refs/exps/<2 hex>/<38 hex>/NAME."""
    commit = git(root, "commit-tree", f"{baseline}^{{tree}}", "-p", baseline, "-m", name, date=date)
    ref = f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"
    git(root, "update-ref", ref, commit)
    return ref


def test_the_trials_experiment_is_the_one_under_its_baseline_else_the_newest(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "a")
    old = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "b")
    new = git(tmp_path, "rev-parse", "HEAD")
    if old[:2] < new[:2]:  # the earlier study's ref sorts last by name, as the one a trial must not take
        old, new = new, old
    earlier = experiment(tmp_path, old, "s-0", "2026-01-01T00:00:00")
    this = experiment(tmp_path, new, "s-0", "2026-01-02T00:00:00")
    git(tmp_path, "update-ref", "refs/exps/exec/EXEC_APPLY", new)  # DVC's own refs are no experiments
    assert exp_ref(tmp_path, "s-0", new) == this
    assert exp_ref(tmp_path, "s-0", old) == earlier
    assert exp_ref(tmp_path, "s-0") == this  # HEAD moved during the trial: the newest
    experiment(tmp_path, new, "s-10", "2026-01-02T00:00:00")
    experiment(tmp_path, new, "s-x", "2026-01-02T00:00:00")
    experiment(tmp_path, new, "s-1-b", "2026-01-02T00:00:00")
    assert experiments_named(tmp_path, "s-") == ["s-0", "s-10"]
    assert experiments_named(tmp_path, "other-") == []

"""Sweeps for real: `python -m rnnpipe.sweep` agents run trials as `dvc exp run` in temporary copies of the project
(tiny params), with Optuna's study in a real SQLite file or the team's PostgreSQL and MLflow in a real store.

- two agents in one clone share a study; one is killed with SIGKILL mid-training: its trial ends FAIL (heartbeat)
  and KILLED in MLflow, nothing of it keeps running or lies in .dvc/tmp/exps, the other agent retries it and the
  budget completes with no trial run twice; the workspace is as it was (git and dvc status);
- pruning: a hopeless learning rate among good ones is stopped before its last epoch, PRUNED in the study, a
  FINISHED MLflow run tagged `pruned`, no experiment ref.
"""
from __future__ import annotations

import difflib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import RepoCopy, make_copy

pytestmark = pytest.mark.slow

FORECASTER_TINY = {"tracking": {"enabled": True}, "forecaster": {"epochs": 4}}


def sweep_file(copy: RepoCopy, name: str, body: dict) -> Path:
    path = copy.root / "sweeps" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    copy.commit(f"sweep {name}")
    return path


def agent_env(copy: RepoCopy, **extra: str) -> dict[str, str]:
    return {**copy.env, "PYTHONPATH": str(copy.root / "src"), **extra}


def start_agent(copy: RepoCopy, log: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnpipe.sweep", *args], cwd=copy.root, env=agent_env(copy, **extra),
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def study(copy: RepoCopy, name: str):
    import optuna

    return optuna.load_study(study_name=f"rnnpipe-sweep-{name}", storage=f"sqlite:///{copy.root}/.sweeps/optuna.db")


def mlflow_runs(copy: RepoCopy, name: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{copy.root}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string=f"tags.sweep = '{name}'")


def wait_for(predicate, timeout: float, what: str, step: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_two_agents_one_killed_the_budget_still_completes(tmp_path):
    copy = make_copy(tmp_path / "repo", {**FORECASTER_TINY, "forecaster": {"epochs": 40}})
    copy.repro("prepare_series")
    copy.commit("data")
    sweep_file(copy, "pair", {
        "stages": ["train_forecaster"],
        "space": {"forecaster.hidden_size": {"int": [2, 6]}, "forecaster.input_noise": {"float": [0.0, 0.3]}},
        "objective": {"file": "reports/forecaster_train.json", "metric": "kept_val_mse", "direction": "minimize"},
        "budget": {"trials": 3}, "sampler": {"type": "tpe", "seed": 0}, "heartbeat_seconds": 2})
    before = copy.run("git", "status", "--porcelain").stdout, copy.dvc("status").stdout

    first = start_agent(copy, tmp_path / "first.log", "run", "sweeps/pair.yaml")
    wait_for(lambda: (copy.root / ".sweeps" / "logs" / "pair-0.log").is_file(), 120, "the first trial")
    second = start_agent(copy, tmp_path / "second.log", "agent", "pair")
    # SIGKILL the first agent while its trial trains (its guard gets SIGTERM from the kernel)
    wait_for(lambda: "forecaster epoch 3/" in (copy.root / ".sweeps/logs/pair-0.log").read_text(), 180,
             "trial 0 training")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert second.wait(timeout=420) == 0, (tmp_path / "second.log").read_text()

    trials = study(copy, "pair").get_trials()
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 3 and states[0] == "FAIL", (states, (tmp_path / "second.log").read_text())
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == trials[0].params
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len({t.user_attrs["exp_name"] for t in complete}) == 3  # no trial ran twice

    refs = copy.run("git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps").stdout.split()
    assert sorted(refs) == sorted(t.user_attrs["exp_name"] for t in complete)
    runs = {r.data.tags.get("trial"): r for r in mlflow_runs(copy, "pair") if "trial" in r.data.tags}
    assert runs["0"].info.status == "KILLED"
    assert all(runs[str(t.number)].info.status == "FINISHED" for t in complete)
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs.values()}
    assert len(parents) == 1

    leftovers = list((copy.root / ".dvc" / "tmp" / "exps").glob("standalone/tmp*"))
    assert leftovers == []
    assert (copy.run("git", "status", "--porcelain").stdout, copy.dvc("status").stdout) == before

    shown = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "show", "pair", "--markdown",
                            str(tmp_path / "pair.md")], cwd=copy.root, env=agent_env(copy), capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "best: trial" in shown.stdout and "(retry of 0)" in shown.stdout
    assert (copy.root / ".sweeps" / "pair.png").stat().st_size > 1000
    assert (tmp_path / "pair.md").read_text().count("| COMPLETE") == 3


def test_a_hopeless_setting_is_pruned_before_its_last_epoch(tmp_path):
    import optuna

    copy = make_copy(tmp_path / "repo", {**FORECASTER_TINY, "forecaster": {"epochs": 6}})
    copy.repro("prepare_series")
    copy.commit("data")
    choices = [0.02, 0.03, 0.0001]
    # A grid seed that tries the hopeless rate last, after two trials that give the median (real GridSampler)
    seed = next(s for s in range(100) if _grid_order(optuna, choices, s)[-1] == 0.0001)
    sweep_file(copy, "hopeless", {
        "stages": ["train_forecaster"], "space": {"forecaster.lr": {"categorical": choices}},
        "objective": {"file": "reports/forecaster_train.json", "metric": "kept_val_mse", "direction": "minimize"},
        "budget": {"trials": 3}, "sampler": {"type": "grid", "seed": seed},
        "pruning": {"startup_trials": 2, "warmup_epochs": 1}})
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "run", "sweeps/hopeless.yaml"], cwd=copy.root,
                            env=agent_env(copy), capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = study(copy, "hopeless").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"], result.stdout + result.stderr
    assert trials[2].params["forecaster.lr"] == 0.0001 and trials[2].user_attrs["pruned_epoch"] < 6
    run = next(r for r in mlflow_runs(copy, "hopeless") if r.data.tags.get("trial") == "2")
    assert run.info.status == "FINISHED" and run.data.tags["pruned"] == str(trials[2].user_attrs["pruned_epoch"])
    refs = copy.run("git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps").stdout.split()
    assert sorted(refs) == ["hopeless-0", "hopeless-1"]
    assert list((copy.root / ".dvc" / "tmp" / "exps").glob("standalone/tmp*")) == []


def test_a_grid_with_a_point_over_the_cost_runs_every_other_point_once_and_ends(tmp_path):
    """The skipped point does not use up the budget (the grid's size), yet the grid is used up: the agent ends
    instead of asking Optuna for a point again."""
    copy = make_copy(tmp_path / "repo")
    copy.repro("prepare_corpus")
    copy.commit("data")
    sweep_file(copy, "costly-grid", {
        "stages": ["train_charrnn"], "space": {"charrnn.epochs": {"categorical": [1, 2, 4]}},
        "objective": {"file": "reports/charrnn_train.json", "metric": "combined_val_bits_per_char",
                      "direction": "minimize"},
        "budget": {"minutes": 10}, "sampler": {"type": "grid", "seed": 0},
        "constraint": {"max_relative_cost": 1.0}})  # params.yaml trains 2 epochs: 4 costs 2x
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "run", "sweeps/costly-grid.yaml"], cwd=copy.root,
                            env=agent_env(copy), capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = study(copy, "costly-grid").get_trials()
    assert sorted((t.params["charrnn.epochs"], t.state.name) for t in trials) == [
        (1, "COMPLETE"), (2, "COMPLETE"), (4, "PRUNED")], result.stdout + result.stderr
    assert "this agent ran 2 trials" in result.stdout and "re-evaluating" not in result.stderr


def test_a_corpus_git_does_not_track_reaches_the_trials_workspace(tmp_path):
    """`dvc exp run --temp` builds a trial's workspace from what git tracks: a text of the user's that git does not
    track (the swept corpus.path) is copied in, and the trial prepares it."""
    copy = make_copy(tmp_path / "repo")
    sweep_file(copy, "own-text", {
        "stages": ["prepare_corpus"], "space": {"corpus.path": {"categorical": ["texts/own.txt"]}},
        "objective": {"file": "reports/corpus.json", "metric": "kept_chars", "direction": "maximize"},
        "budget": {"trials": 1}, "sampler": {"type": "grid", "seed": 0}})
    own = (copy.root / "texts" / "tiny.txt").read_text(encoding="utf-8") * 2
    (copy.root / "texts" / "own.txt").write_text(own, encoding="utf-8")
    assert copy.run("git", "status", "--porcelain").stdout == "?? texts/own.txt\n"
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "run", "sweeps/own-text.yaml", "--cold"],
                            cwd=copy.root, env=agent_env(copy), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    [trial] = study(copy, "own-text").get_trials()
    assert trial.state.name == "COMPLETE", result.stdout + result.stderr
    assert trial.value > len((copy.root / "texts" / "tiny.txt").read_text(encoding="utf-8"))
    assert copy.run("git", "status", "--porcelain").stdout == "?? texts/own.txt\n"


def _grid_order(optuna, choices: list, seed: int) -> list:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = optuna.create_study(sampler=optuna.samplers.GridSampler({"forecaster.lr": choices}, seed=seed))
    probe.optimize(lambda trial: trial.suggest_categorical("forecaster.lr", choices) and 0.0)
    return [t.params["forecaster.lr"] for t in probe.trials]


# -- the team stack: PostgreSQL study, MLflow server, git and DVC remotes ------------------------------------------------

from tests.integration.test_team import Team, team  # noqa: E402,F401  (the module fixture starts the stack)


def test_team_sweep_two_clones_one_agent_killed_a_trial_reruns_on_a_fresh_clone(team: Team, tmp_path):
    """4-trial TPE sweep of the forecaster by agents in 2 clones on one PostgreSQL study and the team MLflow server;
    one agent is killed with SIGKILL mid-trial and started again; then a fresh clone reruns one trial from its exp
    ref and gets the same output md5s."""
    import optuna
    import yaml as pyyaml
    from mlflow.tracking import MlflowClient

    env = team.client_env(RNNPIPE_SWEEP_STORAGE=team.sweep_storage)
    a = make_copy(tmp_path / "a", {"tracking": {"enabled": True}, "runtime": {"threads": 1},
                                   "forecaster": {"epochs": 30}}, env=env)
    team.configure(a)
    a.repro("prepare_series")
    a.commit("data")
    a.dvc("push")
    sweep_file(a, "team", {
        "stages": ["train_forecaster"],
        "space": {"forecaster.hidden_size": {"int": [2, 8]}, "forecaster.input_noise": {"float": [0.0, 0.3]}},
        "objective": {"file": "reports/forecaster_train.json", "metric": "kept_val_mse", "direction": "minimize"},
        "budget": {"trials": 4}, "sampler": {"type": "tpe", "seed": 0}, "heartbeat_seconds": 2})
    origin = tmp_path / "origin.git"
    a.run("git", "init", "-q", "--bare", str(origin))
    a.run("git", "remote", "add", "origin", str(origin))
    a.run("git", "push", "-q", "origin", "main")
    b = clone_of(origin, tmp_path / "b", env, team)
    b.dvc("pull", "check_params", "prepare_series")
    before = {c.root: (c.run("git", "status", "--porcelain").stdout, c.dvc("status").stdout) for c in (a, b)}

    first = start_agent(a, tmp_path / "a1.log", "run", "sweeps/team.yaml")
    wait_for(lambda: any(a.root.glob(".sweeps/logs/team-*.log")), 120, "agent A's first trial")
    second = start_agent(b, tmp_path / "b.log", "agent", "team")
    a_log = lambda: next(iter(sorted(a.root.glob(".sweeps/logs/team-*.log"))))  # noqa: E731
    wait_for(lambda: "forecaster epoch 3/" in a_log().read_text(), 180, "agent A's trial training")
    killed = int(a_log().stem.rsplit("-", 1)[1])
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    again = start_agent(a, tmp_path / "a2.log", "agent", "team")
    for agent, log in ((second, "b.log"), (again, "a2.log")):
        assert agent.wait(timeout=600) == 0, (tmp_path / log).read_text()

    trials = optuna.load_study(study_name="rnnpipe-sweep-team", storage=team.sweep_storage).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4, [t.state.name for t in trials]
    assert trials[killed].state.name == "FAIL"
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed)
    assert retry.state.name == "COMPLETE" and retry.params == trials[killed].params
    names = [t.user_attrs["exp_name"] for t in complete]
    assert len(set(names)) == 4 and len({tuple(sorted(t.params.items())) for t in complete}) == 4

    remote_refs = a.run("git", "ls-remote", str(origin), "refs/exps/*").stdout.split()[1::2]
    assert sorted(ref.rsplit("/", 1)[1] for ref in remote_refs) == sorted(names)
    client = MlflowClient(team.uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.sweep = 'team'")
    children = [r for r in runs if "trial" in r.data.tags]
    assert sorted(r.data.tags["trial"] for r in children if r.info.status == "FINISHED") == \
        sorted(str(t.number) for t in complete)
    assert [r.info.status for r in children if r.data.tags["trial"] == str(killed)] == ["KILLED"]
    parent = next(r for r in runs if r.data.tags.get("sweep_parent") == "true")
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    for c in (a, b):
        after = (c.run("git", "status", "--porcelain").stdout, c.dvc("status").stdout)
        assert after == before[c.root], "\n".join(difflib.unified_diff("\n".join(before[c.root]).splitlines(),
                                                                     "\n".join(after).splitlines(), lineterm=""))
        assert list((c.root / ".dvc" / "tmp" / "exps").glob("standalone/tmp*")) == []

    # A fresh clone restores one trial's outputs from its exp ref without training, then reruns it: same md5s.
    from rnnpipe.core.io import file_digest

    fresh = clone_of(origin, tmp_path / "fresh", team.client_env(), team)
    name = names[0]
    fresh.dvc("exp", "pull", "origin", name)
    ref = fresh.run("git", "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{name}").stdout.split()[0]
    outs = {o["path"]: o["md5"] for o in pyyaml.safe_load(fresh.run("git", "show", f"{ref}:dvc.lock").stdout)
            ["stages"]["train_forecaster"]["outs"]}
    # exit code 255: the tiny base commit never ran the char-RNN stages, so their outputs are in no cache
    fresh.dvc("exp", "apply", name, check=False)
    assert file_digest(fresh.root / "models/forecaster/model.pt", "md5") == outs["models/forecaster/model.pt"]
    fresh.dvc("repro", "-f", "train_forecaster")
    rerun = pyyaml.safe_load((fresh.root / "dvc.lock").read_text())["stages"]["train_forecaster"]["outs"]
    assert {o["path"]: o["md5"] for o in rerun} == outs


def clone_of(origin: Path, root: Path, env: dict[str, str], team: Team) -> RepoCopy:
    subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(root)], check=True, capture_output=True)
    copy = RepoCopy(root, env)
    copy.run("git", "config", "user.email", "agent@rnnpipe.local")
    copy.run("git", "config", "user.name", "sweep agent")
    team.configure(copy)
    return copy

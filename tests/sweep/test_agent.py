"""The agent on a real Optuna study in SQLite: the cost constraint (set once per trial, kept by a retry), the
retries of failed grid points when a grid sweep resumes, and the end of a grid."""
from __future__ import annotations

import warnings

import pytest

from rnnpipe.sweep.agent import _GridWithinBudget, grid_used_up, retry_failed_grid_points, set_cost_constraint
from rnnpipe.sweep.storage import MAX_RETRIES

KEY = "constraints:cost_over_limit"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # the retry callback the agent uses
def test_a_retry_keeps_its_trials_constraint_and_optuna_does_not_warn(tmp_path):
    import optuna

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/study.db")
    first = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    set_cost_constraint(first, -0.25)
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # the agent was stopped mid-trial
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, study._storage.get_trial(first._trial_id))
    retry = study.ask()
    attrs = study._storage.get_trial_system_attrs(retry._trial_id)
    assert attrs.get("failed_trial") == first.number and retry.params == first.params
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna's "The constraint value is ignored ..." would raise here
        set_cost_constraint(retry, -0.25)
    assert study._storage.get_trial_system_attrs(retry._trial_id)[KEY] == -0.25


def test_a_first_attempt_gets_its_constraint(tmp_path):
    import optuna

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/study.db")
    trial = study.ask()
    set_cost_constraint(trial, 0.5)
    assert study._storage.get_trial_system_attrs(trial._trial_id)[KEY] == 0.5
    with pytest.warns(UserWarning, match="already set"):  # what the agent no longer does: set it twice
        trial.set_constraint("cost_over_limit", 0.5)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_resumed_grid_reruns_the_points_whose_trials_all_failed(tmp_path):
    import optuna

    def ask(study):
        trial = study.ask()
        return trial, trial.suggest_categorical("x", [0, 1, 2])

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/study.db",
                                sampler=_GridWithinBudget({"x": [0, 1, 2]}, order_seed=0, seed=0))
    outcome = {}
    for _ in range(3):  # every point tried: one completes, two fail (a param the code did not know yet)
        trial, x = ask(study)
        outcome[x] = trial.number
        if x == 0:
            study.tell(trial, 1.0)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert retry_failed_grid_points(study) == sorted([outcome[1], outcome[2]])
    assert retry_failed_grid_points(study) == []  # both wait for an agent: nothing queued twice
    rerun = sorted(ask(study)[1] for _ in range(2))
    assert rerun == [1, 2]  # the failed points, not a random draw among all three
    for t in study.get_trials():  # the reruns fail again: the point is retried a bounded number of times
        if t.state == optuna.trial.TrialState.RUNNING:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    rounds = 0
    while retry_failed_grid_points(study) and rounds < 10:
        rounds += 1
        for _ in range(2):
            study.tell(ask(study)[0], state=optuna.trial.TrialState.FAIL)
    assert rounds == MAX_RETRIES - 1  # with the rerun above: MAX_RETRIES retries of each point in all


@pytest.mark.parametrize("second_seed", [1, 7, 12345])
def test_two_agents_on_one_grid_never_run_a_point_twice(tmp_path, second_seed):
    """Each agent draws with a seed of its own, but both read a trial's grid index in the same grid."""
    import optuna

    space = {"x": [0, 1, 2, 3], "y": ["a", "b"]}
    storage = f"sqlite:///{tmp_path}/study.db"
    first = optuna.create_study(study_name="s", storage=storage, sampler=_GridWithinBudget(space, 0, 0))
    second = optuna.load_study(study_name="s", storage=storage,
                               sampler=_GridWithinBudget(space, order_seed=0, seed=second_seed))
    points = []
    for study in [first, second] * 4:  # the agents take turns, as two machines' trials interleave
        trial = study.ask()
        points.append((trial.suggest_categorical("x", space["x"]), trial.suggest_categorical("y", space["y"])))
        study.tell(trial, 1.0)
    assert sorted(points) == [(x, y) for x in space["x"] for y in space["y"]]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_grid_with_a_point_skipped_for_its_cost_ends_without_running_a_point_again(tmp_path):
    """Skipped points do not use up the budget (a grid's size): the agent must see the grid used up, or Optuna hands
    it a point again ("re-evaluating a configuration")."""
    import optuna

    from rnnpipe.sweep.spec import OVER_COST_ATTR

    space = {"x": [0, 1], "y": ["a", "b"]}
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/study.db",
                                sampler=_GridWithinBudget(space, order_seed=0, seed=0))
    points = []
    for _ in range(4):
        assert not grid_used_up(study.get_trials(), 4)
        trial = study.ask()
        point = (trial.suggest_categorical("x", space["x"]), trial.suggest_categorical("y", space["y"]))
        points.append(point)
        if point == (1, "b"):  # too costly: skipped, as the agent's trial step does
            trial.set_user_attr(OVER_COST_ATTR, True)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif point == (0, "b"):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, 1.0)
    assert sorted(points) == [(x, y) for x in space["x"] for y in space["y"]]
    assert grid_used_up(study.get_trials(), 4)  # 2 complete + 1 failed: the budget would still ask for one more
    assert not grid_used_up(study.get_trials(), 5)
    retry_failed_grid_points(study)  # a resumed run queues the failed point: the grid is not used up until it ran
    assert not grid_used_up(study.get_trials(), 4)
    retry = study.ask()
    assert (retry.suggest_categorical("x", space["x"]), retry.suggest_categorical("y", space["y"])) == (0, "b")
    assert grid_used_up(study.get_trials(), 4)
    study.ask()  # a trial asked but not yet given its params (another agent's, a moment old) is no point
    assert grid_used_up(study.get_trials(), 4) and not grid_used_up(study.get_trials(), 5)

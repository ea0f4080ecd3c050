"""The agent's cost constraint on a real Optuna study in SQLite: set once per trial, kept by a retry."""
from __future__ import annotations

import warnings

import pytest

from rnnpipe.sweep.agent import set_cost_constraint

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

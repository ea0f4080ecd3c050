"""Sweep files are checked before anything starts: a bad one is one line naming the key, the value and what is
allowed; the committed sweep files pass."""
from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rnnpipe.sweep.spec import SweepError, load_spec, override_value, parse_spec, relative_cost

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "stages": ["train_forecaster"],
    "space": {"forecaster.hidden_size": {"int": [2, 8]}, "forecaster.input_noise": {"float": [0.0, 0.3]},
              "forecaster.lr": {"float": [0.0001, 0.01], "log": True}, "forecaster.cell": {"categorical": ["gru", "lstm"]}},
    "objective": {"file": "reports/forecaster_train.json", "metric": "kept_val_mse", "direction": "minimize"},
    "budget": {"trials": 4},
    "sampler": {"type": "tpe", "seed": 0},
}


def changed(path: str, value) -> dict:
    raw = copy.deepcopy(GOOD)
    *parents, last = path.split("/")
    node = raw
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return raw


def test_a_good_file_parses():
    spec = parse_spec(GOOD, "good", ROOT)
    assert [d.key for d in spec.space][0] == "forecaster.hidden_size"
    assert spec.model_kind == "forecaster" and spec.trials == 4 and spec.pruning is None


@pytest.mark.parametrize("raw, needles", [
    (changed("colour", "red"), ["unknown key 'colour'", "allowed keys are"]),
    (changed("space/forecaster.hidden_sise", {"int": [2, 8]}), ["unknown params.yaml key 'forecaster.hidden_sise'"]),
    (changed("space/forecaster.hidden_size", {"int": [8, 8]}), ["forecaster.hidden_size", "empty range", "low < high"]),
    (changed("space/forecaster.cell", {"categorical": []}), ["forecaster.cell", "empty"]),
    (changed("space/forecaster.hidden_size", {"int": [0, 8]}), ["forecaster.hidden_size = 0", "params.yaml invalid"]),
    (changed("space/forecaster.cell", {"categorical": ["gru", "transformer"]}), ["'transformer'", "one of rnn, gru"]),
    (changed("space/forecaster.lr", {"float": [0.0, 0.01], "log": True}), ["log = true needs low > 0"]),
    (changed("objective/metric", "test_mse_typo"), ["metric 'test_mse_typo'"]),
    (changed("objective/file", "metrics/charrnn.json"), ["written by none of the stages", "reports/forecaster_train.json"]),
    (changed("objective/direction", "down"), ["direction = 'down'", "minimize or maximize"]),
    (changed("budget", {"trials": 0}), ["trials = 0", ">= 1"]),
    (changed("budget", {"hours": 1}), ["unknown key 'hours'"]),
    (changed("sampler", {"type": "cmaes"}), ["type = 'cmaes'", "tpe, random, grid"]),
    (changed("sampler", {"type": "grid"}), ["grid", "continuous range"]),
    (changed("stages", ["train_everything"]), ["unknown stage 'train_everything'"]),
    (changed("pruning", {"patience": 3}), ["unknown key 'patience'"]),
    (changed("space", {}), ["space = {}"]),
    (changed("objective", None), ["missing key 'objective'"]),
    (changed("constraint", {"max_seconds": 60}), ["constraint = {'max_seconds': 60}", "max_trial_seconds"]),
    (changed("constraint", {"max_trial_seconds": 0}), ["max_trial_seconds = 0", "a number > 0"]),
    (changed("constraint", {"max_relative_cost": 1.5}), ["max_relative_cost needs a model with a training cost",
                                                          "allowed for: charrnn"]),
    (changed("constraint", {"max_relative_cost": -1}), ["max_relative_cost = -1", "a number > 0"]),
    (changed("constraint", {}), ["constraint = {}", "max_relative_cost"]),
])
def test_a_bad_file_is_one_line(raw, needles, tmp_path):
    if "test_mse_typo" in str(raw):  # the metric check reads the file the stage wrote, when there is one
        (tmp_path / "reports").mkdir()
        (tmp_path / "reports" / "forecaster_train.json").write_text('{"kept_val_mse": 0.1, "best_val_mse": 0.1}')
        for name in ("dvc.yaml", "params.yaml"):
            (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
        root = tmp_path
    else:
        root = ROOT
    with pytest.raises(SweepError) as caught:
        parse_spec(raw, "bad", root, "sweeps/bad.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("sweeps/bad.yaml: ")
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_bad_name_is_refused():
    with pytest.raises(SweepError, match="sweep name 'Big_Sweep'"):
        parse_spec(GOOD, "Big_Sweep", ROOT)


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")))
def test_committed_sweep_files_validate(path):
    spec = load_spec(path, ROOT)
    assert spec.objective.metric.startswith(("best_val", "kept_val", "combined_val"))  # never tuned on test data


def test_the_cli_refuses_a_bad_file_in_one_line_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(changed("objective/direction", "sideways")))
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "run", str(bad)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "direction = 'sideways'" in result.stderr
    assert not (ROOT / ".sweeps" / "logs" / "bad-0.log").exists()


BASE = """stages: [train_forecaster]
space:
  forecaster.lr: {float: [0.001, 0.01], log: true}
objective: {file: reports/forecaster_train.json, metric: kept_val_mse, direction: minimize}
budget: {trials: 4}
sampler: {type: tpe, seed: 0}
"""


@pytest.mark.parametrize("text, needle", [
    (BASE + "\nbudget: {trials: 1}\n", "duplicate key 'budget' on line 8 (first on line 5)"),
    (BASE.replace("log: true}", "log: true}\n  forecaster.lr: {float: [0.001, 0.02]}"),
     "duplicate key 'forecaster.lr' on line 4 (first on line 3)"),
    (BASE.replace("seed: 0}", "seed: 0, seed: 1}"), "duplicate key 'seed' on line 6 (first on line 6)"),
])
def test_a_key_given_twice_is_refused_with_its_line(text, needle, tmp_path):
    sweep_file = tmp_path / "twice.yaml"
    sweep_file.write_text(BASE)
    assert load_spec(sweep_file, ROOT).trials == 4
    sweep_file.write_text(text)
    with pytest.raises(SweepError, match=re.escape(needle)):
        load_spec(sweep_file, ROOT)


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path):
    sweep_file = tmp_path / "broken.yaml"
    sweep_file.write_text(BASE.replace("seed: 0}", "seed: 0"))
    with pytest.raises(SweepError) as caught:
        load_spec(sweep_file, ROOT)
    assert str(caught.value).startswith(f"{sweep_file}: not valid YAML at line ") and "column" in str(caught.value)


def test_yaml_merge_keys_are_no_duplicates():
    from rnnpipe.sweep.spec import UniqueKeyLoader

    merged = yaml.load("a: &d {x: 1, y: 2}\nb: {<<: *d, x: 3}\n", Loader=UniqueKeyLoader)
    assert merged["b"] == {"x": 3, "y": 2}


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_sweep_file_that_is_not_utf8_is_one_line(command, tmp_path):
    sweep_file = tmp_path / "latin.yaml"
    sweep_file.write_bytes(b"\xff\xfe")
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", command, str(sweep_file)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {sweep_file}: not UTF-8 text") and "must be UTF-8" in result.stderr


def test_override_values_read_back_as_the_same_yaml():
    for value in (3, 0.1, 0.0001, 12345.5, True, "gru", "a b"):
        assert yaml.safe_load(override_value(value)) == value


@pytest.mark.parametrize("value", [3, 0, 0.1, 0.0001, 1e-05, 0.0, True, False, "gru", "texts/a.txt", "it's",
                                   'say "hi"', "нейронная сеть "])
def test_override_values_read_back_the_same_by_the_parser_of_dvc_exp_run_s(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    read = OverridesParser.create().parse_override(f"section.key={override_value(value)}").value()
    assert read == value and type(read) is type(value)


def test_a_time_constraint_parses():
    assert parse_spec(changed("constraint", {"max_trial_seconds": 420}), "c", ROOT).max_trial_seconds == 420.0
    assert parse_spec(GOOD, "c", ROOT).max_trial_seconds is None


def test_the_best_trial_is_the_best_within_the_constraint():
    """A real (in-memory) Optuna study: the fastest-converging but too slow trial is not the best."""
    import optuna

    from rnnpipe.sweep.show import best_trial, trial_rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    for value, seconds in ((0.5, 100.0), (0.1, 900.0), (0.3, 200.0)):
        trial = study.ask()
        trial.suggest_int("x", 0, 3)
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("feasible", seconds <= 420)
        trial.set_constraint("seconds_over_limit", seconds - 420)  # as the agent records it
        study.tell(trial, value)
    assert best_trial(study).value == 0.3
    assert [r["state"] for r in trial_rows(study, ["x"])] == ["COMPLETE", "COMPLETE (too slow)", "COMPLETE"]
    assert study.trials[1].constraints == {"seconds_over_limit": 480.0}  # what TPE reads to avoid such regions


CHAR = {
    "stages": ["train_charrnn"],
    "space": {"charrnn.hidden_size": {"int": [256, 512], "step": 64}, "charrnn.epochs": {"int": [8, 16]}},
    "objective": {"file": "reports/charrnn_train.json", "metric": "combined_val_bits_per_char",
                  "direction": "minimize"},
    "budget": {"trials": 4},
    "sampler": {"type": "tpe", "seed": 0},
    "constraint": {"max_relative_cost": 1.6},
}


def test_a_cost_constraint_compares_a_trials_training_flops_with_params_yamls():
    spec = parse_spec(CHAR, "c", ROOT)
    assert spec.max_relative_cost == 1.6 and spec.max_trial_seconds is None
    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["charrnn"]
    assert relative_cost(spec, ROOT, {}) == pytest.approx(1.0)
    assert relative_cost(spec, ROOT, {"charrnn.epochs": 2 * base["epochs"]}) == pytest.approx(2.0)
    wider = relative_cost(spec, ROOT, {"charrnn.hidden_size": 2 * base["hidden_size"]})
    assert 3.0 < wider < 4.0  # the recurrent GEMMs grow with the square of the width, the input and output ones not
    with pytest.raises(SweepError, match="charrnn.chars_per_epoch in the space"):
        parse_spec({**CHAR, "space": {**CHAR["space"], "charrnn.chars_per_epoch": {"int": [0, 10000]}}}, "c", ROOT)


def test_a_proposal_over_the_cost_is_skipped_without_training_and_tells_tpe_why(tmp_path):
    """A real Optuna study (in memory): the agent's trial step never starts `dvc exp run` for it."""
    import optuna

    from rnnpipe.sweep.agent import _one_trial
    from rnnpipe.sweep.show import trial_rows
    from rnnpipe.sweep.spec import OVER_COST_ATTR

    spec = parse_spec({**CHAR, "space": {"charrnn.epochs": {"int": [40, 50]}}}, "costly", ROOT)
    study = optuna.create_study(direction="minimize")
    result = _one_trial(study, spec, ROOT, "unused://", None)
    [trial] = study.get_trials()
    assert result.state == "SKIPPED" and trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs[OVER_COST_ATTR] is True and trial.user_attrs["relative_cost"] > 3
    assert trial.constraints["cost_over_limit"] == pytest.approx(trial.user_attrs["relative_cost"] - 1.6, abs=1e-3)
    assert trial_rows(study, ["charrnn.epochs"]) == []  # shown as a count, not as a trial that ran
    assert not (ROOT / ".sweeps" / "logs" / f"costly-{trial.number}.log").exists()


def test_show_tables_a_trial_that_failed_before_its_cost_was_known():
    """A real (in-memory) study: a trial with a cost, then one whose params broke a rule (no cost recorded)."""
    import optuna

    from rnnpipe.sweep.show import table, trial_rows

    study = optuna.create_study(direction="minimize")
    for cost in (1.0, None):
        trial = study.ask()
        trial.suggest_int("x", 0, 3)
        if cost is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            trial.set_user_attr("relative_cost", cost)
            study.tell(trial, 2.5)
    rows = trial_rows(study, ["x"])
    assert "cost" in rows[0] and "cost" not in rows[1]
    text = table(rows, markdown=True).splitlines()
    assert text[0].endswith("| exp | cost |") and text[2].endswith("| 1 |") and text[3].endswith("|  |  |")
    assert table(rows[::-1], markdown=False).splitlines()[0].split()[-1] == "cost"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_show_names_no_experiment_for_a_retry_that_has_not_run(tmp_path):
    import optuna

    from rnnpipe.sweep.show import trial_rows

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/study.db")
    trial = study.ask({"x": optuna.distributions.IntDistribution(0, 3)})
    trial.set_user_attr("exp_name", "s-0")  # as the agent names it when the trial starts
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, study.trials[0])
    rows = trial_rows(study, ["x"])
    assert [(r["trial"], r["exp"]) for r in rows] == [(0, "s-0"), (1, "")]


STASHING = """
import sys, time
from pathlib import Path
from dvc.repo import Repo

root = Path(sys.argv[1])
repo = Repo(str(root))
with repo.lock:  # as `dvc exp run` stashes: the workspace's params.yaml is briefly another file
    saved = (root / "params.yaml").read_bytes()
    (root / "params.yaml").write_text("")
    (root / "stashing").touch()
    time.sleep(1)
    (root / "params.yaml").write_bytes(saved)
    (root / "restored").touch()
"""


@pytest.mark.parametrize("reader", ["spec", "cost"])
def test_agents_read_params_yaml_only_between_dvcs_workspace_stashes(reader, tmp_path):
    """An agent starting (or pricing a trial) while another agent's `dvc exp run` stashes the workspace waits for
    DVC's repo lock and reads the user's params.yaml, not the empty or changed one of the moment."""
    for name in ("dvc.yaml", "params.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = true\n")
    spec = parse_spec(CHAR, "c", tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", STASHING, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "stashing").exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the lock holder never started"
            time.sleep(0.02)
        if reader == "spec":
            assert parse_spec(CHAR, "c", tmp_path) == spec
        else:
            assert relative_cost(spec, tmp_path, {}) == pytest.approx(1.0)
        assert (tmp_path / "restored").exists()  # the read waited for the stash to end
    finally:
        holder.kill()
        holder.wait()

"""Tests for the five-second summary at the end of command 1 (rnnpipe.summary)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnpipe.summary import Champion, activate_command, stage_outcomes, summary_lines, tracking_state

REPO = Path(__file__).resolve().parents[1]
FORECASTER = {"test_mse": 0.0109, "noise_floor_mse": 0.0099, "linear_ar_mse": 0.0142}
FORECAST = {"mse_vs_clean": 0.0042, "horizon": 200}
CHARRNN = {"bits_per_char": 2.091, "ngram_bits_per_char": 2.268, "unigram_bits_per_char": 4.576}
SAMPLES = {"prompt": "мой дядя самых", "samples": [{"method": "greedy", "seed": 0, "text": " честных"},
                                                    {"method": "top_k", "seed": 0, "text": " честных правил"}]}
TABLES = {"forecaster": "http://127.0.0.1:5000/#/experiments/1", "charrnn": "http://127.0.0.1:5000/#/experiments/2"}
STORE = "sqlite:////home/me/rnnpipe/mlflow.db"
STAGES = ["check_params", "prepare_series", "prepare_corpus", "train_forecaster", "evaluate_forecaster", "forecast",
          "train_charrnn", "evaluate_charrnn", "generate_text"]

# What dvc 3 prints, as captured from a real `dvc repro` (stage commands' own output in between).
REPRO_LOG = """\
Stage 'check_params' didn't change, skipping
Running stage 'train_forecaster':
> PYTHONPATH=src python stages/train_forecaster.py
forecaster epoch 1/300: train loss 0.1, val loss 0.2
Updating lock file 'dvc.lock'

Stage 'evaluate_forecaster' is cached - skipping run, checking out outputs
Updating lock file 'dvc.lock'

Stage 'train_charrnn' didn't change, skipping
Use `dvc push` to send your updates to remote storage.
"""


def test_each_model_has_one_line_with_its_figure_next_to_its_baselines():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, seconds=461)
    assert lines[0] == "rnnpipe: pipeline finished in 7 min 41 s"
    assert summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, seconds=20)[0] == "rnnpipe: pipeline finished in 20 s"
    forecaster = next(line for line in lines if "forecaster" in line)
    assert "test MSE 0.01090 = 1.10x the noise floor (0.00990)" in forecaster and "0.77x a linear AR" in forecaster
    assert any("200-step recursive forecast: MSE 0.0042" in line for line in lines)
    charrnn = next(line for line in lines if "char-RNN" in line)
    assert "2.091 bits/char" in charrnn and "n-gram 2.268" in charrnn and "unigram 4.576" in charrnn
    assert "alone" not in charrnn  # a pure RNN (or metrics from before the n-gram part): one figure


def test_a_ridge_baseline_is_shown_when_the_metrics_have_it():
    lines = summary_lines({**FORECASTER, "ridge_ar_mse": 0.0104}, FORECAST, CHARRNN, SAMPLES)
    text = "\n".join(lines)
    assert "0.77x a linear AR (0.01420), 1.05x a ridge AR (0.01040)" in text
    assert all(len(line) <= 120 for line in lines), lines


def test_a_char_model_with_an_ngram_part_shows_its_rnn_alone_too():
    lines = summary_lines(FORECASTER, FORECAST, {**CHARRNN, "bits_per_char": 2.059, "rnn_bits_per_char": 2.141},
                          SAMPLES, TABLES, store=STORE)
    charrnn = next(line for line in lines if "char-RNN" in line)
    assert "2.059 bits/char on held-out text (RNN alone 2.141); Kneser-Ney n-gram 2.268" in charrnn
    assert any("«мой дядя самых честных правил» (top_k, seed 0)" in line for line in lines)


def test_it_is_short_and_says_where_things_are():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, TABLES, seconds=394, store=STORE,
                          outcomes=dict.fromkeys(STAGES, "ran"), activate="source .venv/bin/activate",
                          champions={"forecaster": Champion("rnnpipe-forecaster", "1", "test_mse", "0.0109", ("1",)),
                                     "charrnn": Champion("rnnpipe-charrnn", "1", "test_bits_per_char", "2.09",
                                                         ("1",))})
    assert len(lines) <= 17, lines
    assert all(len(line) <= 120 for line in lines if "http" not in line), lines
    text = "\n".join(lines)
    assert "samples/text.md" in text and "dvc plots show" in text and "#/experiments/2" in text


def test_the_commands_start_by_activating_the_environment_and_name_the_store_used():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, TABLES, store=STORE,
                          activate="source .venv/bin/activate")
    commands = [i for i, line in enumerate(lines) if line.startswith("  commands")]
    assert lines[commands[0]] == "  commands    source .venv/bin/activate"
    assert f"mlflow ui --backend-store-uri {STORE} --host 127.0.0.1 --port 5000" in lines[commands[0] + 1]
    assert "$PWD" not in "\n".join(lines)


def test_with_a_tracking_server_it_names_the_server_not_the_local_ui():
    tables = {"forecaster": "http://10.0.0.5:5000/#/experiments/1", "charrnn": "http://10.0.0.5:5000/#/experiments/2"}
    text = "\n".join(summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, tables, store="http://10.0.0.5:5000"))
    assert "the MLflow runs are on http://10.0.0.5:5000" in text and "mlflow ui" not in text
    assert "#/experiments/2" in text


def test_missing_results_say_how_to_make_them():
    lines = summary_lines(None, None, None, None)
    assert any("dvc repro evaluate_forecaster" in line for line in lines)
    assert any("dvc repro evaluate_charrnn" in line for line in lines)
    assert not any("mlflow" in line.lower() for line in lines)


def test_it_ends_with_one_next_step():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES)
    assert lines[-1].startswith("  next        dvc exp run -S ")
    assert sum(line.startswith("  next") for line in lines) == 1


def test_stage_outcomes_read_from_dvc_repro_output():
    assert stage_outcomes(REPRO_LOG) == {"check_params": "up to date", "train_forecaster": "ran",
                                         "evaluate_forecaster": "restored from the run cache",
                                         "train_charrnn": "up to date"}


def test_which_stages_ran_and_which_were_up_to_date():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, outcomes=stage_outcomes(REPRO_LOG))
    text = "\n".join(lines)
    assert "  stages      ran: train_forecaster" in text
    assert "restored from the run cache: evaluate_forecaster" in text
    assert "up to date: check_params, train_charrnn" in text

    every = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, outcomes=dict.fromkeys(STAGES, "ran"))
    assert "  stages      all 9 ran" in every
    none = "\n".join(summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES,
                                   outcomes=dict.fromkeys(STAGES, "up to date")))
    assert "all 9 up to date: nothing ran" in none


def test_a_long_list_of_stages_wraps_within_the_width():
    outcomes = {**dict.fromkeys(STAGES[:8], "ran"), STAGES[8]: "up to date"}
    lines = [line for line in summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, outcomes=outcomes)]
    stage_block = lines[1:4]
    assert all(len(line) <= 120 for line in stage_block), stage_block
    assert "evaluate_charrnn" in "\n".join(stage_block) and "up to date: generate_text" in "\n".join(stage_block)


def test_champion_lines_say_which_version_and_whether_it_is_the_workspace_model():
    champions = {"forecaster": Champion("rnnpipe-forecaster", "3", "test_mse", "0.0107", ("3",)),
                 "charrnn": Champion("rnnpipe-charrnn", "5", "test_bits_per_char", "2.05", ("6",))}
    text = "\n".join(summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, champions=champions))
    assert "@champion   rnnpipe-forecaster version 3 (test_mse 0.0107): the model in models/forecaster/model.pt" \
        in text
    assert "rnnpipe-charrnn version 5 (test_bits_per_char 2.05): models/charrnn/model.pt is version 6, a candidate" \
        in text
    none = "\n".join(summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES,
                                   champions={"charrnn": Champion("rnnpipe-charrnn", None)}))
    assert "rnnpipe-charrnn: none yet" in none


def test_activate_command_names_the_environment_relative_to_the_project():
    assert activate_command(Path("/p"), "/p/.venv", "/usr") == "source .venv/bin/activate"
    assert activate_command(Path("/p"), "/opt/envs/x", "/usr") == "source /opt/envs/x/bin/activate"
    assert activate_command(Path("/p"), "/usr", "/usr") is None


def test_tracking_state_creates_no_store(tmp_path, monkeypatch):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking_state(tmp_path) == (None, None, None)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_tracking_state_reads_the_champion_from_a_real_store(tmp_path, monkeypatch):
    """A real SQLite store: a registered version whose run is tagged with the workspace model's sha256."""
    from rnnpipe.charrnn.descriptor import DESCRIPTOR as CHARRNN
    from rnnpipe.core.io import file_digest
    from rnnpipe.tracking.runs import MODEL_TAG, Tracker

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    model = tmp_path / "models" / "charrnn" / "model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"weights")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = Tracker(True, uri)
    client = tracker.client
    run = client.create_run(tracker.experiment_id(CHARRNN), tags={MODEL_TAG: file_digest(model)})
    client.create_registered_model("rnnpipe-charrnn")
    client.create_model_version("rnnpipe-charrnn", str(tmp_path / "artifact"), run_id=run.info.run_id)
    client.set_model_version_tag("rnnpipe-charrnn", "1", "test_bits_per_char", "2.05")
    client.set_registered_model_alias("rnnpipe-charrnn", "champion", "1")

    store, tables, champions = tracking_state(tmp_path)
    assert store == uri and "#/experiments/" in tables["charrnn"]
    assert champions["charrnn"] == Champion("rnnpipe-charrnn", "1", "test_bits_per_char", "2.05", ("1",))


def test_the_command_prints_a_summary_in_a_fresh_folder(tmp_path):
    repro_log = tmp_path / "repro.log"
    repro_log.write_text(REPRO_LOG, encoding="utf-8")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    done = subprocess.run([sys.executable, "-m", "rnnpipe.summary", "--seconds", "61", "--repro-log", str(repro_log)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rnnpipe: pipeline finished in 1 min 1 s\n  stages      ran: train_forecaster")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("args, code, line", [
    (["--seconds", "nan"], 1, "error: --seconds = nan is invalid: allowed is a number of seconds from 0 to 31,622,400 (366 days)"),
    (["--seconds", "-5"], 1, "error: --seconds = -5.0 is invalid: allowed is a number of seconds from 0 to 31,622,400 (366 days)"),
    (["--seconds", "inf"], 1, "error: --seconds = inf is invalid: allowed is a number of seconds from 0 to 31,622,400 (366 days)"),
    (["--seconds", "1e308"], 1, "error: --seconds = 1e+308 is invalid: allowed is a number of seconds from 0 to 31,622,400 (366 days)"),
    (["--repro-log", "nope.log"], 1,
     "error: --repro-log nope.log is not a file: allowed is a saved output of `dvc repro`"),
    (["--seconds", "ten"], 2, "error: argument --seconds: invalid float value: 'ten'"),
    (["--bogus"], 2, "error: unrecognized arguments: --bogus"),
])
def test_the_command_refuses_a_bad_argument_in_one_line(tmp_path, args, code, line):
    done = subprocess.run([sys.executable, "-m", "rnnpipe.summary", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")})
    assert (done.returncode, done.stderr, done.stdout) == (code, line + "\n", "")


RESTORE = "`dvc status` names a file that is not what the pipeline wrote; `dvc checkout` restores it"


@pytest.mark.parametrize("name, content, message", [
    ("metrics/forecaster.json", b'{"test_mse": ', "metrics/forecaster.json cannot be read (Expecting value: line 1 "
                                                  "column 14 (char 13))"),
    ("metrics/charrnn.json", b"\xff", "metrics/charrnn.json cannot be read ('utf-8' codec can't decode byte 0xff"),
    ("samples/text.json", b"[1]", "samples/text.json holds a list, not the JSON object the pipeline writes"),
    ("metrics/forecaster.json", b'{"test_mse": 1}', "one of metrics/forecaster.json, reports/forecast.json, "
                                                    "metrics/forecast.json, metrics/charrnn.json, samples/text.json "
                                                    "lacks a figure or holds one of the wrong kind (KeyError: "
                                                    "'noise_floor_mse')"),
    ("metrics/charrnn.json", b'{"bits_per_char": "x", "ngram_bits_per_char": 3, "unigram_bits_per_char": 4}',
     "one of metrics/forecaster.json, reports/forecast.json, metrics/forecast.json, metrics/charrnn.json, "
     "samples/text.json lacks a figure or holds one of the wrong kind (ValueError: Unknown format code 'f'"),
])
def test_a_damaged_results_file_is_one_line_naming_it(tmp_path, name, content, message):
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "rnnpipe.summary"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: the pipeline's results cannot be summarised: {message}"), done.stderr
    assert done.stderr.endswith(f"; {RESTORE}\n"), done.stderr

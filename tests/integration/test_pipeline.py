"""The real `dvc repro` on tiny params: every output, no-op reruns, and stage isolation between the two models."""
from __future__ import annotations

import json
import math
import subprocess

import pandas as pd
import pytest
import yaml

from rnnpipe import course
from rnnpipe.core.io import load_checkpoint

from tests.integration.helpers import RepoCopy, copy_of

pytestmark = pytest.mark.slow

ALL_STAGES = {"check_params", "prepare_series", "prepare_corpus", "train_forecaster", "evaluate_forecaster", "forecast",
              "train_charrnn", "evaluate_charrnn", "generate_text"}


def declared_outputs(copy: RepoCopy) -> list[str]:
    stages = yaml.safe_load((copy.root / "dvc.yaml").read_text())["stages"]
    return [next(iter(entry)) if isinstance(entry, dict) else entry  # `- path: {cache: false}` or `- path`
            for stage in stages.values() for key in ("outs", "metrics") for entry in stage.get(key, [])]


def test_full_repro_runs_every_stage_and_writes_every_declared_output(pipeline_run):
    copy, result = pipeline_run
    assert RepoCopy.ran_stages(result.stdout) == ALL_STAGES
    for path in declared_outputs(copy):
        assert (copy.root / path).is_file(), path
        assert (copy.root / path).stat().st_size > 0, path
    leftovers = [p for p in copy.root.rglob("*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []


def test_outputs_have_sane_content(pipeline_run):
    copy, _ = pipeline_run
    read = lambda name: json.loads((copy.root / name).read_text(encoding="utf-8"))  # noqa: E731
    signal = pd.read_csv(copy.root / "data/series/signal.csv")
    assert len(signal) == 400 and (signal["split"] == "train").sum() == 200
    assert len(pd.read_csv(copy.root / "data/series/ar2.csv")) == 200

    forecaster = {**read("metrics/forecaster.json"), **read("reports/forecaster_test.json")}
    assert forecaster["n_test_targets"] == 200
    for key in ("test_mse", "persistence_mse", "linear_ar_mse", "ridge_ar_mse", "noise_floor_mse"):
        assert math.isfinite(forecaster[key]) and forecaster[key] > 0, key
    assert forecaster["test_mse_over_linear_ar"] == pytest.approx(forecaster["test_mse"] / forecaster["linear_ar_mse"])
    assert forecaster["test_mse_over_ridge_ar"] == pytest.approx(forecaster["test_mse"] / forecaster["ridge_ar_mse"])
    assert forecaster["ridge_ar_window"] < 200 - 38  # chosen where the tiny training part leaves room
    assert 0.005 < forecaster["noise_floor_mse"] < 0.02  # noise std 0.1 → MSE ≈ 0.01

    forecast = pd.read_csv(copy.root / "samples/forecast.csv")
    assert len(forecast) == 20 and forecast["forecast"].notna().all()

    corpus = read("reports/corpus.json")
    parts = [(copy.root / f"data/corpus/{name}.txt").read_text(encoding="utf-8") for name in ("train", "val", "test")]
    assert sum(map(len, parts)) == corpus["kept_chars"]
    vocab = read("data/corpus/vocab.json")["vocab"]
    assert "ё" in vocab and "-" not in vocab and vocab == sorted(vocab) and len(vocab) == corpus["vocab_size"]

    char = {**read("metrics/charrnn.json"), **read("reports/charrnn_test.json")}
    assert 0 < char["bits_per_char"] < math.log2(len(vocab)) + 1
    assert char["perplexity"] == pytest.approx(2 ** char["bits_per_char"])
    assert 0 <= char["top1_accuracy"] <= 1
    assert char["ngram_bits_per_char"] < char["unigram_bits_per_char"]  # the repetitive tiny text

    samples = read("samples/text.json")
    assert samples["prompt"] == "мой дядя самых"
    assert [s["method"] for s in samples["samples"]] == ["greedy", "temperature", "top_k"]
    assert all(len(s["text"]) == 30 and set(s["text"]) <= set(vocab) for s in samples["samples"])

    config, state = load_checkpoint(copy.root / "models/charrnn/model.pt")
    assert config["vocab"] == vocab and config["arch"]["hidden_size"] == 16
    # The default char model has its n-gram part, weights fitted on validation, then counted on all the text
    # before the test part.
    assert config["arch"]["ngram_order"] == 10 and config["arch"]["ngram_chars"] == len(parts[0]) + len(parts[1])
    assert char["mixed_ngram_order"] == 10 and char["mixed_rnn_weight"] == config["rnn_weight"]
    assert char["bits_per_char"] < char["rnn_bits_per_char"]  # the tiny text repeats: the n-gram part helps
    train = read("reports/charrnn_train.json")
    assert train["ngram_order"] == 10 and train["ngram_weight"] == config["ngram_weight"]


def test_second_repro_runs_nothing_and_status_is_clean(pipeline_run):
    copy, _ = pipeline_run
    again = copy.repro()
    assert RepoCopy.ran_stages(again.stdout) == set()
    assert "up to date" in copy.dvc("status").stdout


def test_metrics_are_results_and_diagnostics_go_to_reports(pipeline_run):
    copy, _ = pipeline_run
    shown = json.loads(copy.dvc("metrics", "show", "--json").stdout)
    metrics = next(iter(shown.values()))["data"]
    assert set(metrics) == {"metrics/forecaster.json", "metrics/forecast.json", "metrics/charrnn.json"}
    assert set(metrics["metrics/forecaster.json"]["data"]) == {"test_mse", "linear_ar_mse", "ridge_ar_mse",
                                                               "noise_floor_mse"}
    assert set(metrics["metrics/charrnn.json"]["data"]) == {"bits_per_char", "rnn_bits_per_char",
                                                            "ngram_bits_per_char", "unigram_bits_per_char"}
    report = json.loads((copy.root / "reports/forecaster_test.json").read_text())
    assert report["test_mse_over_noise_floor"] == pytest.approx(
        metrics["metrics/forecaster.json"]["data"]["test_mse"] / metrics["metrics/forecaster.json"]["data"][
            "noise_floor_mse"])
    assert {"ar1", "ar2_x1", "ar2_x2"} <= set(json.loads((copy.root / "reports/series.json").read_text()))


def test_each_plot_is_one_quantity_with_a_colour_per_series_and_axis_titles(pipeline_run, tmp_path):
    copy, _ = pipeline_run
    plots = json.loads(copy.dvc("plots", "show", "--json").stdout)["data"]
    assert set(plots) == {"plots/forecaster/loss.csv", "plots/charrnn/loss.csv", "plots/forecaster/predictions.csv",
                          "plots/forecaster/forecast.csv"}  # each table drawn once
    for name, (rendered,) in plots.items():
        spec = rendered["content"]
        assert spec["encoding"]["color"]["field"] == "series", name
        assert spec["encoding"]["strokeDash"]["field"] == "rev", name
        assert spec["encoding"]["y"]["title"] in ("mean squared error", "bits per character", "signal value")
        assert len({row["series"] for row in spec["data"]["values"]}) >= 2
    predictions = plots["plots/forecaster/predictions.csv"][0]["content"]["data"]["values"]
    assert len({row["x"] for row in predictions}) == 200  # a readable window, not the whole test part
    copy.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    assert (tmp_path / "plots" / "index.html").is_file()
    assert "dvc_plots" in copy.run("git", "check-ignore", "dvc_plots/index.html").stdout


def test_exp_show_after_one_change_fits_120_columns_with_the_param_and_the_headline(pipeline_run, warm_stages,
                                                                                    tmp_path):
    source, _ = pipeline_run
    copy = copy_of(source, tmp_path / "repo", {**source.env, "COLUMNS": "120"})
    copy.commit("the baseline")
    copy.dvc("exp", "run", "-S", "forecaster.hidden_size=6", env_extra=warm_stages)
    table = copy.dvc("exp", "show", "--only-changed", "--no-pager").stdout
    header = next(line for line in table.splitlines() if "Experiment" in line)
    assert max(map(len, table.splitlines())) <= 120
    assert "forecaster.hidden_size" in header and "test_mse" in header and "mse_vs_clean" in header


def test_param_changes_rerun_only_the_stages_of_that_model(pipeline_run, warm_stages, tmp_path):
    # Which stages rerun is DVC's decision; the stages themselves run warm (what they compute is tested elsewhere).
    source, _ = pipeline_run
    copy = copy_of(source, tmp_path / "repo", {**source.env, **warm_stages})

    # check_params validates every key first; its marker never changes, so only the param's own stages follow
    copy.set_params({"charrnn": {"hidden_size": 12}})
    assert RepoCopy.ran_stages(copy.repro().stdout) == {"check_params", "train_charrnn", "evaluate_charrnn",
                                                        "generate_text"}

    copy.set_params({"forecaster": {"hidden_size": 6}})
    assert RepoCopy.ran_stages(copy.repro().stdout) == {"check_params", "train_forecaster", "evaluate_forecaster",
                                                        "forecast"}

    copy.set_params({"generate": {"temperature": 0.5}})
    assert RepoCopy.ran_stages(copy.repro().stdout) == {"check_params", "generate_text"}

    # tracking settings and the thread count change no output: nothing but the check reruns
    copy.set_params({"tracking": {"uri": "http://127.0.0.1:9"}, "runtime": {"threads": 1}})
    assert RepoCopy.ran_stages(copy.repro().stdout) == {"check_params"}


def test_a_code_change_in_one_model_reruns_only_that_models_stages(pipeline_run, warm_stages, tmp_path):
    source, _ = pipeline_run
    copy = copy_of(source, tmp_path / "repo", {**source.env, **warm_stages})  # each fork imports the copy's code

    def touch(module: str) -> set[str]:
        with open(copy.root / "src/rnnpipe" / module, "a", encoding="utf-8") as handle:
            handle.write("\n# a line added by the test\n")
        return RepoCopy.ran_stages(copy.repro().stdout)

    # check_params reads the corpus with the char-RNN's code; its marker does not change, so only those stages follow
    assert touch("charrnn/model.py") == {"check_params", "prepare_corpus", "train_charrnn", "evaluate_charrnn",
                                         "generate_text"}
    assert touch("forecaster/model.py") == {"train_forecaster", "evaluate_forecaster", "forecast"}
    # the series code reruns its stage; its outputs are the same bytes, so nothing downstream reruns
    assert touch("series/signal.py") == {"prepare_series"}
    # MLflow code writes no output: no stage depends on it, so changing it leaves `dvc status` up to date
    for module in ("tracking/runs.py", "tracking/store.py", "tracking/registry.py"):
        assert touch(module) == set()
    assert "up to date" in copy.dvc("status").stdout.lower()
    assert touch("core/io.py") == ALL_STAGES  # the shared core is every stage's dep


def course_settings_in(copy: RepoCopy, program: str) -> bool:
    """Whether the workspace's params.yaml (the experiment just run) holds every setting of the course's program."""
    params = yaml.safe_load((copy.root / "params.yaml").read_text(encoding="utf-8"))
    wrong = {key: params[key.split(".")[0]][key.split(".")[1]] for key, value in course.PROGRAMS[program].items()
             if params[key.split(".")[0]][key.split(".")[1]] != value}
    assert wrong == {}, f"{program}: params.yaml differs from the course's settings: {wrong}"
    return True


def test_the_course_programs_are_one_command_each(pipeline_run, tmp_path):
    source, _ = pipeline_run
    copy = copy_of(source, tmp_path / "repo")
    copy.commit("the baseline")
    # A refused text or setting: one line before DVC starts; params.yaml and every output are as they were.
    (tmp_path / "short.txt").write_text("abc def.\n", encoding="utf-8")
    (tmp_path / "long.txt").write_text("мой дядя самых честных правил. " * 40, encoding="utf-8")
    status = copy.dvc("status").stdout
    for args, line in (
            (["missing.txt"], f"error: course text FILE: corpus path not found: {tmp_path / 'missing.txt'}"),
            (["short.txt"], "error: course text: the corpus training split has 6 characters: charrnn.seq_length = 10 "
                            "and batch_size = 8 need at least 12"),
            (["long.txt", "-S", "charrnn.seq_length=0"], "error: course text: params.yaml with the -S values: "
                                                         "charrnn.seq_length = 0 is invalid: allowed is an integer"),
            (["long.txt", "--bogus"], "error: course text: unrecognized arguments: --bogus: allowed are dvc exp")):
        refused = subprocess.run(["bash", str(copy.root / "scripts" / "course.sh"), "text", *args], cwd=tmp_path,
                                 env=copy.env, capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0 and refused.stdout == "", refused.stdout
        assert len(refused.stderr.splitlines()) == 1 and refused.stderr.startswith(line), refused.stderr
    assert copy.run("git", "status", "--porcelain").stdout == "" and copy.dvc("status").stdout == status
    copy.run("bash", "scripts/course.sh", "sentences")
    assert course_settings_in(copy, "sentences")
    samples = json.loads((copy.root / "samples/text.json").read_text(encoding="utf-8"))
    assert samples["prompt"] == "нейронная сеть " and all(len(s["text"]) == 20 for s in samples["samples"])
    train = json.loads((copy.root / "reports/charrnn_train.json").read_text())
    assert train["best_epoch"] == 1
    done = copy.run("bash", "scripts/course.sh", "forecaster")
    assert course_settings_in(copy, "forecaster")
    assert json.loads((copy.root / "reports/forecaster_train.json").read_text())["best_epoch"] <= 5
    # what the script says to do to put the last commit's params and outputs back, done as it says
    back = done.stdout.splitlines()[-1].partition("to put the last commit's back: ")[2]
    assert back == "git checkout HEAD -- params.yaml dvc.lock metrics plots && dvc checkout", done.stdout
    copy.run("bash", "-c", back)
    assert copy.run("git", "status", "--porcelain").stdout == ""
    assert "up to date" in copy.dvc("status").stdout
    wrong = copy.run("bash", "scripts/course.sh", "gpt", check=False)
    assert wrong.returncode == 1 and "allowed are forecaster, text [FILE] and sentences" in wrong.stderr

"""The real `dvc repro` on tiny params: every output, no-op reruns, and stage isolation between the two models."""
from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import yaml

from rnnpipe.core.io import load_checkpoint

from tests.integration.helpers import RepoCopy

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

    forecaster = read("metrics/forecaster.json")
    assert forecaster["n_test_targets"] == 200
    for key in ("test_mse", "persistence_mse", "linear_ar_mse", "noise_floor_mse"):
        assert math.isfinite(forecaster[key]) and forecaster[key] > 0, key
    assert forecaster["test_mse_over_linear_ar"] == pytest.approx(forecaster["test_mse"] / forecaster["linear_ar_mse"])
    assert 0.005 < forecaster["noise_floor_mse"] < 0.02  # noise std 0.1 → MSE ≈ 0.01

    forecast = pd.read_csv(copy.root / "samples/forecast.csv")
    assert len(forecast) == 20 and forecast["forecast"].notna().all()

    corpus = read("metrics/corpus.json")
    parts = [(copy.root / f"data/corpus/{name}.txt").read_text(encoding="utf-8") for name in ("train", "val", "test")]
    assert sum(map(len, parts)) == corpus["kept_chars"]
    vocab = read("data/corpus/vocab.json")["vocab"]
    assert "ё" in vocab and "-" not in vocab and vocab == sorted(vocab) and len(vocab) == corpus["vocab_size"]

    char = read("metrics/charrnn.json")
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


def test_second_repro_runs_nothing_and_status_is_clean(pipeline_run):
    copy, _ = pipeline_run
    again = copy.repro()
    assert RepoCopy.ran_stages(again.stdout) == set()
    assert "up to date" in copy.dvc("status").stdout


def test_metrics_and_plots_commands_read_the_outputs(pipeline_run, tmp_path):
    copy, _ = pipeline_run
    shown = json.loads(copy.dvc("metrics", "show", "--json").stdout)
    metrics = next(iter(shown.values()))["data"]
    assert "test_mse" in metrics["metrics/forecaster.json"]["data"]
    assert "bits_per_char" in metrics["metrics/charrnn.json"]["data"]
    copy.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "forecaster_loss" in html and "charrnn_loss" in html


def test_param_changes_rerun_only_the_stages_of_that_model(pipeline_run, tmp_path):
    source, _ = pipeline_run
    copy = RepoCopy(tmp_path / "repo", source.env)
    shutil.copytree(source.root, copy.root, symlinks=True)

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


def test_a_code_change_in_one_model_reruns_only_that_models_stages(pipeline_run, tmp_path):
    source, _ = pipeline_run
    copy = RepoCopy(tmp_path / "repo", source.env)
    shutil.copytree(source.root, copy.root, symlinks=True)

    def touch(module: str) -> set[str]:
        with open(copy.root / "src/rnnpipe" / module, "a", encoding="utf-8") as handle:
            handle.write("\n# a line added by the test\n")
        return RepoCopy.ran_stages(copy.repro().stdout)

    assert touch("charrnn/model.py") == {"prepare_corpus", "train_charrnn", "evaluate_charrnn", "generate_text"}
    assert touch("forecaster/model.py") == {"train_forecaster", "evaluate_forecaster", "forecast"}
    # the series code reruns its stage; its outputs are the same bytes, so nothing downstream reruns
    assert touch("series/signal.py") == {"prepare_series"}
    assert touch("core/io.py") == ALL_STAGES  # the shared core is every stage's dep

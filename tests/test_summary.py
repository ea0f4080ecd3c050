"""Tests for the five-second summary at the end of command 1 (rnnpipe.summary)."""
from __future__ import annotations

from rnnpipe.summary import summary_lines

FORECASTER = {"test_mse": 0.0109, "noise_floor_mse": 0.0099, "linear_ar_mse": 0.0142}
FORECAST = {"mse_vs_clean": 0.0042, "horizon": 200}
CHARRNN = {"bits_per_char": 2.091, "ngram_bits_per_char": 2.268, "unigram_bits_per_char": 4.576}
SAMPLES = {"prompt": "мой дядя самых", "samples": [{"method": "greedy", "seed": 0, "text": " честных"},
                                                    {"method": "top_k", "seed": 0, "text": " честных правил"}]}


def test_each_model_has_one_line_with_its_figure_next_to_its_baselines():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, seconds=461)
    assert lines[0] == "rnnpipe: pipeline finished in 7 min 41 s"
    forecaster = next(line for line in lines if "forecaster" in line)
    assert "test MSE 0.01090 = 1.10x the noise floor (0.00990)" in forecaster and "0.77x a linear AR" in forecaster
    assert any("200-step recursive forecast: MSE 0.0042" in line for line in lines)
    charrnn = next(line for line in lines if "char-RNN" in line)
    assert "2.091 bits/char" in charrnn and "n-gram 2.268" in charrnn and "unigram 4.576" in charrnn
    assert "alone" not in charrnn  # a pure RNN (or metrics from before the n-gram part): one figure


def test_a_char_model_with_an_ngram_part_shows_its_rnn_alone_too():
    lines = summary_lines(FORECASTER, FORECAST, {**CHARRNN, "bits_per_char": 2.059, "rnn_bits_per_char": 2.141},
                          SAMPLES, {"forecaster": "http://x/1", "charrnn": "http://x/2"})
    charrnn = next(line for line in lines if "char-RNN" in line)
    assert "2.059 bits/char on held-out text (RNN alone 2.141); Kneser-Ney n-gram 2.268" in charrnn
    assert all(len(line) <= 120 for line in lines), lines
    assert any("«мой дядя самых честных правил» (top_k, seed 0)" in line for line in lines)


def test_it_is_short_and_says_where_things_are():
    lines = summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, {"forecaster": "http://x/1", "charrnn": "http://x/2"})
    assert len(lines) <= 11 and all(len(line) <= 120 for line in lines), lines
    text = "\n".join(lines)
    assert "samples/text.md" in text and "dvc plots show" in text and "mlflow ui" in text and "http://x/2" in text


def test_with_a_tracking_server_it_names_the_server_not_the_local_ui():
    tables = {"forecaster": "http://10.0.0.5:5000/#/experiments/1", "charrnn": "http://10.0.0.5:5000/#/experiments/2"}
    text = "\n".join(summary_lines(FORECASTER, FORECAST, CHARRNN, SAMPLES, tables, store="http://10.0.0.5:5000"))
    assert "the runs on http://10.0.0.5:5000" in text and "mlflow ui" not in text and "#/experiments/2" in text


def test_missing_results_say_how_to_make_them():
    lines = summary_lines(None, None, None, None)
    assert any("dvc repro evaluate_forecaster" in line for line in lines)
    assert any("dvc repro evaluate_charrnn" in line for line in lines)
    assert not any("MLflow" in line for line in lines)

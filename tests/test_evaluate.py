"""Tests for metrics and baselines (rnnpipe.evaluate)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnpipe.evaluate import char_losses, char_metrics, forecaster_metrics, linear_ar_fit, linear_ar_predict, mse
from rnnpipe.models import CharRNN
from rnnpipe.series import forecaster_windows, noisy_signal

torch.set_num_threads(1)


# --- forecaster ---------------------------------------------------------------------------------------------------

def test_mse_of_known_values():
    assert mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == pytest.approx(4 / 3)
    assert mse(np.array([0.5]), np.array([0.5])) == 0.0
    assert mse(np.array([1, 2], dtype=np.float32), np.array([2, 4])) == pytest.approx(2.5)


def windows_of(sequence: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(len(sequence) - order)
    return sequence[starts[:, None] + np.arange(order)], sequence[starts + order]


def test_linear_ar_fit_recovers_the_coefficients_of_a_noiseless_recurrence():
    # y[t] = 0.5 y[t-3] - 0.2 y[t-2] + 0.6 y[t-1] + 0.3, from several random starts
    weights, bias = np.array([0.5, -0.2, 0.6]), 0.3
    rng = np.random.default_rng(0)
    inputs, targets = [], []
    for _ in range(4):
        y = list(rng.normal(size=3))
        for _ in range(30):
            y.append(float(np.dot(weights, y[-3:]) + bias))
        x, t = windows_of(np.array(y), 3)
        inputs.append(x)
        targets.append(t)
    coefficients = linear_ar_fit(np.vstack(inputs), np.concatenate(targets))
    np.testing.assert_allclose(coefficients, [0.5, -0.2, 0.6, 0.3], atol=1e-9)


def test_linear_ar_predict_applies_window_weights_and_intercept():
    inputs = np.array([[1.0, 2.0], [0.0, -1.0]])
    np.testing.assert_allclose(linear_ar_predict(np.array([2.0, 3.0, 0.5]), inputs), [8.5, -2.5])


class LastValue(nn.Module):
    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1]


@pytest.fixture(scope="module")
def signal_windows():
    frame = noisy_signal(-10.0, 10.0, 400, 250, 0.1, seed=0)
    windows = forecaster_windows(frame["y"].to_numpy(), 250, 10, 40)
    return windows, frame["clean"].to_numpy()[250:], frame["y"].to_numpy()[250:]


def test_forecaster_metrics_of_a_persistence_model_equal_the_persistence_baseline(signal_windows):
    windows, clean_test, y_test = signal_windows
    metrics, series = forecaster_metrics(LastValue(), windows, clean_test)
    assert metrics["n_test_targets"] == 150
    assert metrics["test_mse"] == metrics["persistence_mse"]
    assert metrics["test_mse_over_persistence"] == 1.0
    assert metrics["test_mse_over_linear_ar"] == pytest.approx(metrics["test_mse"] / metrics["linear_ar_mse"])
    assert metrics["test_mse_over_noise_floor"] == pytest.approx(metrics["test_mse"] / metrics["noise_floor_mse"])
    previous = np.concatenate([[windows["x_test"][0, -1].item()], y_test[:-1]])
    assert metrics["persistence_mse"] == pytest.approx(mse(previous, y_test), rel=1e-6)
    assert metrics["noise_floor_mse"] == pytest.approx(mse(clean_test, y_test), rel=1e-6)
    np.testing.assert_allclose(series["target"], y_test, rtol=1e-6)
    np.testing.assert_allclose(series["prediction"], previous, rtol=1e-6)


def test_forecaster_metrics_linear_baseline_beats_persistence_on_a_smooth_signal(signal_windows):
    windows, clean_test, _ = signal_windows
    metrics, series = forecaster_metrics(LastValue(), windows, clean_test)
    assert metrics["linear_ar_mse"] < metrics["persistence_mse"]
    assert metrics["linear_ar_mse"] == pytest.approx(mse(series["linear_ar"], series["target"]))
    # noise std 0.1: the clean signal is about 0.01 away from the noisy targets
    assert 0.005 < metrics["noise_floor_mse"] < 0.02


# --- char-RNN -----------------------------------------------------------------------------------------------------

V = 6


@pytest.fixture(scope="module")
def char_model() -> CharRNN:
    torch.manual_seed(0)
    # dropout > 0: the losses must be computed in eval mode, or they would be random
    return CharRNN(V, hidden_size=12, num_layers=2, cell="lstm", input="embedding", embedding_dim=5, dropout=0.3)


@pytest.fixture(scope="module")
def streams() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(V, (12,), generator=generator), torch.randint(V, (40,), generator=generator)


def direct_many_to_many(model, context, targets):
    stream = torch.cat([context, targets])
    model.eval()
    with torch.no_grad():
        logits, _ = model(stream[:-1].unsqueeze(0))
    logits = logits[0, len(context) - 1:]
    return F.cross_entropy(logits, targets, reduction="none"), (logits.argmax(-1) == targets).float()


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_char_losses_many_to_many_equals_one_full_sequence_pass(char_model, streams, chunk):
    context, targets = streams
    char_model.train()
    losses, hits = char_losses(char_model, context, targets, "many_to_many", seq_length=5, chunk=chunk)
    assert char_model.training  # left as it was found
    expected_losses, expected_hits = direct_many_to_many(char_model, context, targets)
    assert losses.shape == hits.shape == (40,)
    torch.testing.assert_close(losses, expected_losses, rtol=1e-5, atol=1e-5)
    assert torch.equal(hits, expected_hits)


def test_char_losses_many_to_many_chunked_equals_unchunked(char_model, streams):
    context, targets = streams
    chunked = char_losses(char_model, context, targets, "many_to_many", 5, chunk=7)
    whole = char_losses(char_model, context, targets, "many_to_many", 5, chunk=10_000)
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(chunked[1], whole[1])


def test_char_losses_many_to_many_with_one_context_char(char_model, streams):
    context, targets = streams
    losses, _ = char_losses(char_model, context[-1:], targets, "many_to_many", 5, chunk=9)
    expected, _ = direct_many_to_many(char_model, context[-1:], targets)
    torch.testing.assert_close(losses, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [4, 10_000])
def test_char_losses_many_to_one_uses_exactly_the_previous_seq_length_chars(char_model, streams, chunk):
    context, targets = streams
    seq_length = 5
    losses, hits = char_losses(char_model, context, targets, "many_to_one", seq_length, chunk=chunk)
    stream = torch.cat([context, targets])
    char_model.eval()
    expected_losses, expected_hits = [], []
    with torch.no_grad():
        for t in range(len(context), len(stream)):
            logits = char_model(stream[t - seq_length:t].unsqueeze(0))[0][0, -1]
            expected_losses.append(F.cross_entropy(logits, stream[t]))
            expected_hits.append(float(int(logits.argmax()) == int(stream[t])))
    torch.testing.assert_close(losses, torch.stack(expected_losses), rtol=1e-5, atol=1e-5)
    assert hits.tolist() == expected_hits


def test_char_losses_many_to_one_differs_from_many_to_many(char_model, streams):
    context, targets = streams
    m2o, _ = char_losses(char_model, context, targets, "many_to_one", 3)
    m2m, _ = char_losses(char_model, context, targets, "many_to_many", 3)
    assert not torch.allclose(m2o, m2m, atol=1e-4)


def test_char_losses_refuses_too_little_context_and_unknown_modes(char_model, streams):
    context, targets = streams
    with pytest.raises(ValueError, match="5 characters of context"):
        char_losses(char_model, context[:4], targets, "many_to_one", 5)
    with pytest.raises(ValueError, match="at least one character"):
        char_losses(char_model, context[:0], targets, "many_to_many", 5)
    with pytest.raises(ValueError, match="mode"):
        char_losses(char_model, context, targets, "seq2seq", 5)


def test_char_metrics_bits_perplexity_and_accuracy():
    losses = torch.tensor([0.5, 1.5, math.log(2.0), 2 * math.log(2.0)])
    hits = torch.tensor([1.0, 0.0, 1.0, 1.0])
    metrics = char_metrics(losses, hits)
    nats = (0.5 + 1.5 + 3 * math.log(2.0)) / 4
    assert metrics["bits_per_char"] == pytest.approx(nats / math.log(2.0), rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(2 ** metrics["bits_per_char"], rel=1e-12)
    assert metrics["perplexity"] == pytest.approx(math.exp(nats), rel=1e-6)
    assert metrics["top1_accuracy"] == 0.75
    assert metrics["n_test_chars"] == 4


def test_char_metrics_of_a_uniform_guess_is_log2_vocab_bits():
    losses = torch.full((10,), math.log(8.0))
    metrics = char_metrics(losses, torch.zeros(10))
    assert metrics["bits_per_char"] == pytest.approx(3.0, rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(8.0, rel=1e-6)
    assert metrics["top1_accuracy"] == 0.0

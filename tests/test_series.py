"""Tests for the synthetic series (rnnpipe.series): the noisy signal, the AR(1) RNN and the forecaster windows."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnpipe.series import (
    ar1_process,
    ar1_rnn,
    ar_summary,
    clean_signal,
    forecaster_windows,
    innovation_std,
    lag1_autocorrelation,
    noisy_signal,
)

torch.set_num_threads(1)


# --- noisy_signal -------------------------------------------------------------------------------------------------

def test_noisy_signal_columns_lengths_and_split_counts():
    frame = noisy_signal(-20.0, 20.0, 2000, 1000, 0.1, seed=0)
    assert list(frame.columns) == ["x", "clean", "y", "split"]
    assert len(frame) == 2000
    assert (frame["split"] == "train").sum() == 1000 and (frame["split"] == "test").sum() == 1000
    assert (frame["split"].iloc[:1000] == "train").all() and (frame["split"].iloc[1000:] == "test").all()
    np.testing.assert_array_equal(frame["x"].to_numpy(), np.linspace(-20.0, 20.0, 2000))


def test_noisy_signal_is_byte_identical_for_the_same_seed():
    a = noisy_signal(-5.0, 5.0, 300, 200, 0.1, seed=7)
    b = noisy_signal(-5.0, 5.0, 300, 200, 0.1, seed=7)
    assert a.to_csv(index=False).encode() == b.to_csv(index=False).encode()
    assert a["y"].to_numpy().tobytes() == b["y"].to_numpy().tobytes()


def test_noisy_signal_noise_changes_with_the_seed():
    a = noisy_signal(-5.0, 5.0, 300, 200, 0.1, seed=7)
    b = noisy_signal(-5.0, 5.0, 300, 200, 0.1, seed=8)
    assert not np.array_equal(a["y"].to_numpy(), b["y"].to_numpy())
    np.testing.assert_array_equal(a["clean"].to_numpy(), b["clean"].to_numpy())


def test_clean_column_is_cos_x_plus_half_sin_5x():
    frame = noisy_signal(-20.0, 20.0, 500, 250, 0.1, seed=0)
    x = frame["x"].to_numpy()
    np.testing.assert_allclose(frame["clean"].to_numpy(), np.cos(x) + 0.5 * np.sin(5 * x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(clean_signal(np.array([0.0, math.pi])), [1.0, -1.0], atol=1e-12)


@pytest.mark.parametrize("noise_std", [0.1, 0.5])
def test_noise_std_is_the_requested_one(noise_std):
    frame = noisy_signal(-20.0, 20.0, 20000, 10000, noise_std, seed=1)
    noise = frame["y"].to_numpy() - frame["clean"].to_numpy()
    assert abs(noise.std() / noise_std - 1) < 0.03
    assert abs(noise.mean()) < 4 * noise_std / math.sqrt(len(noise))


def test_zero_noise_gives_the_clean_signal():
    frame = noisy_signal(-1.0, 1.0, 50, 25, 0.0, seed=3)
    np.testing.assert_array_equal(frame["y"].to_numpy(), frame["clean"].to_numpy())


# --- AR(1) --------------------------------------------------------------------------------------------------------

def test_innovation_std_is_sigma_times_sqrt_one_minus_r_squared():
    assert innovation_std(0.1, 0.9) == pytest.approx(0.1 * math.sqrt(1 - 0.81), rel=1e-12)
    assert innovation_std(0.15, 0.99) == pytest.approx(0.15 * math.sqrt(1 - 0.99 ** 2), rel=1e-12)
    assert innovation_std(0.2, 0.0) == pytest.approx(0.2)


def test_ar1_rnn_has_diagonal_weights_and_no_bias():
    rnn = ar1_rnn([0.1, 0.15], [0.9, 0.99])
    np.testing.assert_allclose(rnn.weight_hh_l0.numpy(), np.diag([0.9, 0.99]), atol=1e-7)
    np.testing.assert_allclose(rnn.weight_ih_l0.numpy(),
                               np.diag([innovation_std(0.1, 0.9), innovation_std(0.15, 0.99)]), atol=1e-7)
    assert rnn.bias is False and not any(p.requires_grad for p in rnn.parameters())


def reference_recurrence(eps: np.ndarray, h0: float, sigma: float, r: float) -> np.ndarray:
    """x[t] = tanh(r x[t-1] + sigma_noise eps[t]) with x[-1] = h0, one step at a time in plain Python."""
    sigma_noise = innovation_std(sigma, r)
    x, previous = [], float(h0)
    for e in eps:
        previous = math.tanh(r * previous + sigma_noise * float(e))
        x.append(previous)
    return np.array(x)


def test_ar1_process_1d_follows_the_recurrence_step_by_step():
    x, eps, h0 = ar1_process([0.1], [0.9], length=200, seed=4)
    assert x.shape == (200, 1) and eps.shape == (200, 1) and h0.shape == (1,)
    np.testing.assert_allclose(x[:, 0], reference_recurrence(eps[:, 0], h0[0], 0.1, 0.9), rtol=0, atol=1e-6)


def test_ar1_process_2d_dimensions_follow_their_own_recurrence_independently():
    sigma, r = [0.1, 0.15], [0.9, 0.99]
    x, eps, h0 = ar1_process(sigma, r, length=200, seed=5)
    assert x.shape == (200, 2) and eps.shape == (200, 2) and h0.shape == (2,)
    for d in range(2):
        np.testing.assert_allclose(x[:, d], reference_recurrence(eps[:, d], h0[d], sigma[d], r[d]),
                                   rtol=0, atol=1e-6)
    assert not np.allclose(x[:, 0], x[:, 1])


def test_ar1_process_is_deterministic_for_a_seed_and_changes_with_it():
    a = ar1_process([0.1, 0.15], [0.9, 0.99], 50, seed=2)
    b = ar1_process([0.1, 0.15], [0.9, 0.99], 50, seed=2)
    c = ar1_process([0.1, 0.15], [0.9, 0.99], 50, seed=3)
    for left, right in zip(a, b):
        assert left.tobytes() == right.tobytes()
    assert not np.array_equal(a[0], c[0])


def h0_std(h0: str, n_seeds: int = 1000) -> np.ndarray:
    return np.std([ar1_process([0.1, 0.15], [0.9, 0.99], 1, seed, h0)[2] for seed in range(n_seeds)], axis=0)


def test_h0_stationary_has_std_sigma():
    np.testing.assert_allclose(h0_std("stationary"), [0.1, 0.15], rtol=0.08)


def test_h0_course_has_std_sigma_noise():
    np.testing.assert_allclose(h0_std("course"), [innovation_std(0.1, 0.9), innovation_std(0.15, 0.99)], rtol=0.08)


def test_ar1_process_rejects_unknown_h0_and_mismatched_lengths():
    with pytest.raises(ValueError, match="h0"):
        ar1_process([0.1], [0.9], 10, 0, h0="zero")
    with pytest.raises(ValueError, match="sigma has 2 values but r has 1"):
        ar1_process([0.1, 0.2], [0.9], 10, 0)


LONG = 100_000


def assert_matches_theory(x: np.ndarray, sigma: float, r: float) -> None:
    assert abs(lag1_autocorrelation(x) - r) < 0.02, (lag1_autocorrelation(x), r)
    assert abs(np.std(x) / sigma - 1) < 0.10, (float(np.std(x)), sigma)


def test_long_1d_process_has_lag1_autocorrelation_r_and_std_sigma():
    x, _, _ = ar1_process([0.1], [0.9], LONG, seed=0)
    assert_matches_theory(x[:, 0], 0.1, 0.9)


@pytest.fixture(scope="module")
def long_2d() -> np.ndarray:
    return ar1_process([0.1, 0.15], [0.9, 0.99], LONG, seed=1)[0]


def test_long_2d_process_fast_dimension_matches_theory(long_2d):
    assert_matches_theory(long_2d[:, 0], 0.1, 0.9)


def test_long_2d_process_slow_dimension_lag1_autocorrelation_is_r(long_2d):
    assert abs(lag1_autocorrelation(long_2d[:, 1]) - 0.99) < 0.02


def test_long_2d_process_slow_dimension_std_is_compressed_by_tanh_only(long_2d):
    """At sigma 0.15, r 0.99 the tanh visibly compresses the process (std ~0.108, not 0.15); the linear recurrence
    on the same noise is within 10 % of sigma, so the gap is the tanh, not sampling noise."""
    x, eps, h0 = ar1_process([0.1, 0.15], [0.9, 0.99], 100_000, seed=11)
    summary = ar_summary(x[:, 1], 0.15, 0.99, eps[:, 1], h0[1])
    assert abs(summary["std_linear_same_noise"] / 0.15 - 1) < 0.10
    assert 0.6 < summary["std"] / 0.15 < 0.85


def test_ar_summary_reports_sample_and_theory():
    x = np.array([1.0, -1.0, 1.0, -1.0])
    summary = ar_summary(x, sigma=0.1, r=0.9, eps=np.zeros(4), h0=1.0)
    assert summary == {"std": 1.0, "std_theory": 0.1, "lag1_autocorr": pytest.approx(-0.75),
                       "lag1_autocorr_theory": 0.9,
                       "std_linear_same_noise": pytest.approx(np.std([0.9, 0.81, 0.729, 0.6561]))}


# --- forecaster_windows -------------------------------------------------------------------------------------------

N, N_TRAIN, SEQ, N_VAL = 40, 25, 4, 5


@pytest.fixture(scope="module")
def windows() -> dict[str, torch.Tensor]:
    return forecaster_windows(np.arange(N, dtype=np.float64), N_TRAIN, SEQ, N_VAL)


def test_windows_test_targets_are_exactly_the_test_part(windows):
    np.testing.assert_array_equal(windows["y_test"].numpy(), np.arange(N_TRAIN, N))


def test_windows_val_targets_are_the_last_n_val_of_the_training_part(windows):
    np.testing.assert_array_equal(windows["y_val"].numpy(), np.arange(N_TRAIN - N_VAL, N_TRAIN))


def test_windows_fit_targets_start_at_seq_length_and_end_before_val(windows):
    np.testing.assert_array_equal(windows["y_fit"].numpy(), np.arange(SEQ, N_TRAIN - N_VAL))


@pytest.mark.parametrize("split", ["fit", "val", "test"])
def test_each_window_holds_the_previous_seq_length_values(windows, split):
    inputs, targets = windows[f"x_{split}"], windows[f"y_{split}"]
    assert inputs.shape == (len(targets), SEQ) and inputs.dtype == torch.float32
    expected = targets.unsqueeze(1) - SEQ + torch.arange(SEQ, dtype=torch.float32)
    assert torch.equal(inputs, expected)


def test_windows_cover_every_target_once(windows):
    all_targets = torch.cat([windows["y_fit"], windows["y_val"], windows["y_test"]]).numpy()
    np.testing.assert_array_equal(all_targets, np.arange(SEQ, N))

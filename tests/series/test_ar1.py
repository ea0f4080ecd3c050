"""Tests for the AR(1) processes made by a hand-set nn.RNN (rnnpipe.series.ar1)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnpipe.series.ar1 import ar1_process, ar1_rnn, ar_summary, innovation_std, lag1_autocorrelation

torch.set_num_threads(1)


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

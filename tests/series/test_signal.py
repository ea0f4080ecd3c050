"""Tests for the noisy signal (rnnpipe.series.signal)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnnpipe.series.signal import clean_signal, noisy_signal


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

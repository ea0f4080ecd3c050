"""Tests for the forecaster's windows (rnnpipe.forecaster.windows): every target once, the right history."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpipe.forecaster.windows import forecaster_windows


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

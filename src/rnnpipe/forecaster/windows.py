"""Training, validation and test windows of the signal: the previous seq_length values → the next value."""
from __future__ import annotations

import numpy as np
import torch


def forecaster_windows(y: np.ndarray, n_train: int, seq_length: int, n_val: int) -> dict[str, torch.Tensor]:
    """Windows of the previous seq_length values → the next value, as the course builds them.

    fit: targets seq_length .. n_train - n_val - 1; val: the last n_val targets of the training part;
    test: every target from n_train on (its first windows reach back into the training part).
    """
    values = torch.as_tensor(np.asarray(y, dtype=np.float32))
    starts = torch.arange(len(values) - seq_length)
    inputs = values[starts.unsqueeze(1) + torch.arange(seq_length)]
    targets = values[starts + seq_length]          # target index = start + seq_length
    fit_end = n_train - n_val - seq_length           # window index where validation targets begin
    test_start = n_train - seq_length
    return {
        "x_fit": inputs[:fit_end], "y_fit": targets[:fit_end],
        "x_val": inputs[fit_end:test_start], "y_val": targets[fit_end:test_start],
        "x_test": inputs[test_start:], "y_test": targets[test_start:],
    }

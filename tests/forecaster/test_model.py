"""Tests for the forecaster model (rnnpipe.forecaster.model): one value out per window, prefix predictions."""
from __future__ import annotations

import pytest
import torch

from tests.builders import make_forecaster

torch.set_num_threads(1)


CELLS = ["rnn", "gru", "lstm"]


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster_maps_windows_to_one_value_each(cell):
    torch.manual_seed(3)
    model = make_forecaster(cell=cell, hidden_size=6, num_layers=2)
    window = torch.randn(9, 10)
    y = model(window)
    assert y.shape == (9,)
    torch.testing.assert_close(y, model.net(window.unsqueeze(-1))[:, 0])
    torch.testing.assert_close(model(window[:1]), y[:1])  # each window is predicted on its own


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster_forward_steps_predicts_after_every_prefix(cell):
    torch.manual_seed(4)
    model = make_forecaster(cell=cell, hidden_size=5, num_layers=2).eval()
    window = torch.randn(3, 7)
    steps = model.forward_steps(window)
    assert steps.shape == (3, 7)
    torch.testing.assert_close(steps[:, -1], model(window), rtol=1e-6, atol=1e-6)
    # step t sees values 0..t only: it is the many-to-one prediction from that prefix
    torch.testing.assert_close(steps[:, 3], model(window[:, :4]), rtol=1e-6, atol=1e-6)

"""Tests for the forecaster model (rnnpipe.forecaster.model): one value out per window, prefix predictions."""
from __future__ import annotations

import pytest
import torch

from rnnpipe.forecaster.model import ForecasterConfig
from tests.builders import forecaster_config, make_forecaster

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


def test_without_a_linear_path_the_model_is_the_rnn_alone():
    torch.manual_seed(5)
    plain = make_forecaster(cell="gru", hidden_size=6)
    torch.manual_seed(5)
    off = make_forecaster(cell="gru", hidden_size=6, linear_window=0)
    assert list(off.state_dict()) == list(plain.state_dict()) and off.linear is None
    for name, tensor in plain.state_dict().items():
        assert torch.equal(off.state_dict()[name], tensor)
    window = torch.randn(4, 10)
    assert torch.equal(off(window), plain(window))
    assert torch.equal(off.forward_steps(window), plain.forward_steps(window))
    assert torch.equal(off(window), plain.net(window.unsqueeze(-1)).squeeze(-1))


def test_a_checkpoint_without_a_linear_path_stores_what_it_always_stored():
    raw = forecaster_config().to_checkpoint()
    assert raw["arch"] == {"cell": "rnn", "hidden_size": 5, "num_layers": 1}
    assert ForecasterConfig.from_checkpoint(raw).linear_window == 0  # an older checkpoint loads as no linear path
    linear = forecaster_config(linear_window=4)
    assert ForecasterConfig.from_checkpoint(linear.to_checkpoint()) == linear


def test_the_linear_path_leaves_the_rnns_initial_weights_alone():
    torch.manual_seed(6)
    plain = make_forecaster(hidden_size=6)
    torch.manual_seed(6)
    linear = make_forecaster(hidden_size=6, linear_window=4)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(linear.state_dict()[name], tensor)
    window = torch.randn(3, 10)
    assert torch.equal(linear(window), plain(window))  # the path starts at zero: no correction yet


@pytest.mark.parametrize("cell", CELLS)
def test_the_linear_path_adds_a_filter_of_the_last_values(cell):
    torch.manual_seed(7)
    model = make_forecaster(cell=cell, hidden_size=5, linear_window=4).eval()
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, 0.4]]))
        model.linear.bias.fill_(0.05)
    window = torch.randn(6, 10)
    y = model(window)
    assert y.shape == (6,)
    expected = model.net(window.unsqueeze(-1)).squeeze(-1) + window[:, -4:] @ torch.tensor([0.1, -0.2, 0.3, 0.4]) + 0.05
    torch.testing.assert_close(y, expected)
    steps = model.forward_steps(window)
    assert steps.shape == (6, 10)
    torch.testing.assert_close(steps[:, -1], y, rtol=1e-6, atol=1e-6)
    # a step that reads a full window predicts as forward() does from that prefix
    torch.testing.assert_close(steps[:, 5], model(window[:, :6]), rtol=1e-6, atol=1e-6)
    # an early step reads the values it has: zeros stand for those before the window
    early = model.net(window[:, :2].unsqueeze(-1)).squeeze(-1) + window[:, :2] @ torch.tensor([0.3, 0.4]) + 0.05
    torch.testing.assert_close(steps[:, 1], early, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_no_step_reads_a_later_value(cell):
    torch.manual_seed(8)
    model = make_forecaster(cell=cell, hidden_size=5, linear_window=4).eval()
    with torch.no_grad():
        model.linear.weight.normal_()
    window = torch.randn(2, 10)
    changed = window.clone()
    changed[:, 6] += 1.0
    before, after = model.forward_steps(window), model.forward_steps(changed)
    assert torch.equal(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])
    assert model(window[:, :6]).equal(model(changed[:, :6]))


def test_a_window_shorter_than_the_linear_path_reads_zeros_for_the_older_values():
    torch.manual_seed(9)
    model = make_forecaster(hidden_size=5, linear_window=6).eval()
    with torch.no_grad():
        model.linear.weight.normal_()
    window = torch.randn(3, 4)
    padded = torch.cat([torch.zeros(3, 2), window], dim=1)
    rnn = model.net(window.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(model(window) - rnn, model.linear(padded).squeeze(-1))
    torch.testing.assert_close(model.forward_steps(window)[:, -1], model(window), rtol=1e-6, atol=1e-6)

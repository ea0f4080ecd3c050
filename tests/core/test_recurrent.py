"""Tests for the shared recurrent blocks (rnnpipe.core.recurrent): the course's shapes, and what feeds the head."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnpipe.core.recurrent import ManyToMany, ManyToOne, detach_state, make_rnn

torch.set_num_threads(1)


CELLS = ["rnn", "gru", "lstm"]


def last_layer_final_hidden(h_n) -> torch.Tensor:
    h = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h, c)
    return h[-1]


@pytest.mark.parametrize("cell", CELLS)
def test_many_to_one_course_shape_and_head_reads_the_final_hidden_state(cell):
    torch.manual_seed(0)
    model = ManyToOne(10, 15, 5, cell=cell)
    x = torch.randn(4, 8, 10)
    y = model(x)
    assert y.shape == (4, 5)
    _, h_n = model.rnn(x)
    torch.testing.assert_close(y, model.head(last_layer_final_hidden(h_n)))


@pytest.mark.parametrize("cell", CELLS)
def test_two_layer_many_to_one_head_takes_the_last_layers_final_state(cell):
    torch.manual_seed(1)
    model = ManyToOne(5, 25, 5, num_layers=2, cell=cell)
    x = torch.randn(18, 21, 5)
    y = model(x)
    assert y.shape == (18, 5)
    _, h_n = model.rnn(x)
    h = h_n[0] if isinstance(h_n, tuple) else h_n
    assert h.shape == (2, 18, 25)
    torch.testing.assert_close(y, model.head(h[-1]))
    assert not torch.allclose(y, model.head(h[0]), atol=1e-4)  # the first layer's state would give another answer


@pytest.mark.parametrize("cell", CELLS)
def test_many_to_many_course_shape_and_every_step_goes_through_the_head(cell):
    torch.manual_seed(2)
    model = ManyToMany(15, 25, 10, cell=cell).eval()
    x = torch.randn(7, 5, 15)
    y, state = model(x)
    assert y.shape == (7, 5, 10)
    out, h_n = model.rnn(x)
    for t in range(5):
        torch.testing.assert_close(y[:, t], model.head(out[:, t]))
    torch.testing.assert_close(last_layer_final_hidden(state), out[:, -1])


def test_detach_state_handles_none_tensor_and_tuple():
    assert detach_state(None) is None
    h = torch.ones(1, 2, requires_grad=True) * 2
    assert not detach_state(h).requires_grad and torch.equal(detach_state(h), h.detach())
    pair = detach_state((h, h * 3))
    assert isinstance(pair, tuple) and not any(s.requires_grad for s in pair)


def test_make_rnn_rejects_an_unknown_cell_and_drops_single_layer_dropout():
    with pytest.raises(ValueError, match="cell = 'transformer'"):
        make_rnn("transformer", 3, 4)
    assert make_rnn("gru", 3, 4, num_layers=1, dropout=0.5).dropout == 0.0
    assert make_rnn("lstm", 3, 4, num_layers=2, dropout=0.5).dropout == 0.5
    assert isinstance(make_rnn("lstm", 3, 4), nn.LSTM) and make_rnn("rnn", 3, 4).batch_first

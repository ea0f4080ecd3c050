"""Tests for the recurrent building blocks and models (rnnpipe.models): the course's shapes, and what feeds the head."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnpipe.models import (
    CharRNN,
    Forecaster,
    LogitsOnly,
    ManyToMany,
    ManyToOne,
    build_model,
    detach_state,
    load_model,
    make_rnn,
)
from rnnpipe.errors import CheckpointError
from rnnpipe.io import save_checkpoint

torch.set_num_threads(1)
CELLS = ["rnn", "gru", "lstm"]


def last_layer_final_hidden(h_n) -> torch.Tensor:
    h = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h, c)
    return h[-1]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("head_activation", [None, "relu"])
def test_many_to_one_course_shape_and_head_reads_the_final_hidden_state(cell, head_activation):
    torch.manual_seed(0)
    model = ManyToOne(10, 15, 5, cell=cell, head_activation=head_activation)
    x = torch.randn(4, 8, 10)
    y = model(x)
    assert y.shape == (4, 5)
    _, h_n = model.rnn(x)
    h = last_layer_final_hidden(h_n)
    activated = torch.relu(h) if head_activation == "relu" else h
    torch.testing.assert_close(y, model.head(activated))


def test_many_to_one_relu_changes_the_output():
    torch.manual_seed(0)
    plain = ManyToOne(10, 15, 5)
    relu = ManyToOne(10, 15, 5, head_activation="relu")
    relu.load_state_dict(plain.state_dict())
    x = torch.randn(4, 8, 10)
    assert not torch.allclose(plain(x), relu(x))


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
@pytest.mark.parametrize("head_activation", [None, "relu"])
def test_many_to_many_course_shape_and_every_step_goes_through_the_head(cell, head_activation):
    torch.manual_seed(2)
    model = ManyToMany(15, 25, 10, cell=cell, head_activation=head_activation).eval()
    x = torch.randn(7, 5, 15)
    y, state = model(x)
    assert y.shape == (7, 5, 10)
    out, h_n = model.rnn(x)
    for t in range(5):
        step = torch.relu(out[:, t]) if head_activation == "relu" else out[:, t]
        torch.testing.assert_close(y[:, t], model.head(step))
    torch.testing.assert_close(last_layer_final_hidden(state), out[:, -1])


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster_maps_windows_to_one_value_each(cell):
    torch.manual_seed(3)
    model = Forecaster(cell=cell, hidden_size=6, num_layers=2)
    window = torch.randn(9, 10)
    y = model(window)
    assert y.shape == (9,)
    torch.testing.assert_close(y, model.net(window.unsqueeze(-1))[:, 0])
    torch.testing.assert_close(model(window[:1]), y[:1])  # each window is predicted on its own


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster_forward_steps_predicts_after_every_prefix(cell):
    torch.manual_seed(4)
    model = Forecaster(cell=cell, hidden_size=5, num_layers=2).eval()
    window = torch.randn(3, 7)
    steps = model.forward_steps(window)
    assert steps.shape == (3, 7)
    torch.testing.assert_close(steps[:, -1], model(window), rtol=1e-6, atol=1e-6)
    # step t sees values 0..t only: it is the many-to-one prediction from that prefix
    torch.testing.assert_close(steps[:, 3], model(window[:, :4]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("encoding", ["embedding", "one_hot"])
def test_charrnn_gives_logits_over_the_vocabulary_for_every_position(cell, encoding):
    torch.manual_seed(4)
    model = CharRNN(11, hidden_size=8, cell=cell, input=encoding, embedding_dim=5)
    ids = torch.randint(11, (3, 7))
    logits, state = model(ids)
    assert logits.shape == (3, 7, 11)
    h = state[0] if isinstance(state, tuple) else state
    assert h.shape == (1, 3, 8)


def test_charrnn_one_hot_input_feeds_one_hot_rows():
    model = CharRNN(6, hidden_size=4, input="one_hot")
    ids = torch.tensor([[0, 5, 2]])
    encoded = model.encode(ids)
    assert encoded.dtype == torch.float32
    torch.testing.assert_close(encoded, torch.eye(6)[ids])
    assert model.net.rnn.input_size == 6


def test_charrnn_rejects_an_unknown_input_encoding():
    with pytest.raises(ValueError, match="input = 'bytes'"):
        CharRNN(5, input="bytes")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("encoding", ["embedding", "one_hot"])
def test_charrnn_carrying_the_state_across_halves_equals_one_pass(cell, encoding):
    torch.manual_seed(5)
    model = CharRNN(9, hidden_size=12, num_layers=2, cell=cell, input=encoding, embedding_dim=6, dropout=0.3).eval()
    ids = torch.randint(9, (2, 16))
    whole, whole_state = model(ids)
    first, state = model(ids[:, :7])
    second, second_state = model(ids[:, 7:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=1e-5, atol=1e-5)
    fresh, _ = model(ids[:, 7:])  # without the carried state the second half would differ
    assert not torch.allclose(fresh, second, atol=1e-4)


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


def test_build_model_rebuilds_a_forecaster_from_its_config():
    torch.manual_seed(6)
    model = Forecaster(cell="gru", hidden_size=7, num_layers=2).eval()
    rebuilt = build_model({"kind": "forecaster", "arch": dict(model.config)})
    assert isinstance(rebuilt, Forecaster) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    window = torch.randn(3, 10)
    torch.testing.assert_close(rebuilt.eval()(window), model(window), rtol=0, atol=0)


def test_build_model_rebuilds_a_charrnn_from_its_config():
    torch.manual_seed(7)
    model = CharRNN(13, hidden_size=10, num_layers=2, cell="lstm", input="embedding", embedding_dim=4,
                    dropout=0.1).eval()
    rebuilt = build_model({"kind": "charrnn", "arch": dict(model.config)})
    assert isinstance(rebuilt, CharRNN) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    ids = torch.randint(13, (2, 6))
    torch.testing.assert_close(rebuilt.eval()(ids)[0], model(ids)[0], rtol=0, atol=0)


def test_build_model_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown model kind 'gpt'"):
        build_model({"kind": "gpt", "arch": {}})


def test_load_model_round_trips_a_checkpoint_in_eval_mode(tmp_path):
    torch.manual_seed(9)
    model = CharRNN(11, hidden_size=8, cell="gru", input="one_hot", dropout=0.0)
    config = {"kind": "charrnn", "arch": dict(model.config), "vocab": list("abcdefghijk")}
    save_checkpoint(tmp_path / "m.pt", config, model.state_dict())
    loaded_config, loaded = load_model(tmp_path / "m.pt")
    assert loaded_config == config and not loaded.training
    ids = torch.randint(11, (2, 5))
    torch.testing.assert_close(loaded(ids)[0], model.eval()(ids)[0], rtol=0, atol=0)


def test_load_model_names_the_file_when_weights_do_not_fit_the_config(tmp_path):
    model = Forecaster(cell="gru", hidden_size=7)
    wrong = {"kind": "forecaster", "arch": {**model.config, "hidden_size": 9}}
    save_checkpoint(tmp_path / "m.pt", wrong, model.state_dict())
    message = str(pytest.raises(CheckpointError, load_model, tmp_path / "m.pt").value)
    assert "m.pt does not match its model config" in message and "\n" not in message
    save_checkpoint(tmp_path / "k.pt", {"kind": "gpt", "arch": {}}, model.state_dict())
    assert "unknown model kind 'gpt'" in str(pytest.raises(CheckpointError, load_model, tmp_path / "k.pt").value)


def test_logits_only_returns_just_the_logits_tensor():
    torch.manual_seed(8)
    model = CharRNN(5, hidden_size=6, cell="lstm", input="embedding", embedding_dim=3).eval()
    ids = torch.randint(5, (2, 4))
    out = LogitsOnly(model)(ids)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, model(ids)[0], rtol=0, atol=0)

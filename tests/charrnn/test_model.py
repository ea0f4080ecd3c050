"""Tests for the char-RNN model (rnnpipe.charrnn.model): logits per position, encodings, carried state."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from tests.builders import make_charrnn

torch.set_num_threads(1)


CELLS = ["rnn", "gru", "lstm"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("encoding", ["embedding", "one_hot"])
def test_charrnn_gives_logits_over_the_vocabulary_for_every_position(cell, encoding):
    torch.manual_seed(4)
    model = make_charrnn(11, hidden_size=8, cell=cell, input=encoding, embedding_dim=5)
    ids = torch.randint(11, (3, 7))
    logits, state = model(ids)
    assert logits.shape == (3, 7, 11)
    h = state[0] if isinstance(state, tuple) else state
    assert h.shape == (1, 3, 8)


def test_charrnn_one_hot_input_feeds_one_hot_rows():
    model = make_charrnn(6, hidden_size=4, input="one_hot")
    ids = torch.tensor([[0, 5, 2]])
    encoded = model.encode(ids)
    assert encoded.dtype == torch.float32
    torch.testing.assert_close(encoded, torch.eye(6)[ids])
    assert model.net.rnn.input_size == 6


def test_charrnn_rejects_an_unknown_input_encoding():
    with pytest.raises(ValidationError, match="input"):
        make_charrnn(5, input="bytes")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("encoding", ["embedding", "one_hot"])
def test_charrnn_carrying_the_state_across_halves_equals_one_pass(cell, encoding):
    torch.manual_seed(5)
    model = make_charrnn(9, hidden_size=12, num_layers=2, cell=cell, input=encoding, embedding_dim=6, dropout=0.3).eval()
    ids = torch.randint(9, (2, 16))
    whole, whole_state = model(ids)
    first, state = model(ids[:, :7])
    second, second_state = model(ids[:, 7:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=1e-5, atol=1e-5)
    fresh, _ = model(ids[:, 7:])  # without the carried state the second half would differ
    assert not torch.allclose(fresh, second, atol=1e-4)


def test_a_pure_rnn_log_probs_are_its_logits_log_softmax_the_distribution_training_scores():
    torch.manual_seed(8)
    model = make_charrnn(5, hidden_size=6, cell="lstm", input="embedding", embedding_dim=3).eval()
    ids = torch.randint(5, (1, 12))
    logits, _ = model(ids)
    log_probs = model.log_probs(logits[0], ids[0], torch.arange(1, 13))
    assert log_probs.dtype == torch.float32
    assert torch.equal(-log_probs[:-1].gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1),
                       torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="none"))


def test_the_checkpoint_metadata_names_the_modules_it_always_named():
    # torch.save writes these names into model.pt: another set of submodules changes the file's bytes.
    model = make_charrnn(5, hidden_size=6, cell="lstm", input="embedding", embedding_dim=3)
    assert list(model.state_dict()._metadata) == ["", "encode", "input_dropout", "net", "net.rnn", "net.dropout",
                                                  "net.activation", "net.head"]

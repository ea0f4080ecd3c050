"""Tests for the char-RNN's held-out metrics (rnnpipe.charrnn.evaluate)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from rnnpipe.charrnn.evaluate import char_losses, char_metrics, piecewise_char_losses
from rnnpipe.charrnn.model import CharRNN
from tests.builders import make_charrnn

torch.set_num_threads(1)


V = 6


@pytest.fixture(scope="module")
def char_model() -> CharRNN:
    torch.manual_seed(0)
    # dropout > 0: the losses must be computed in eval mode, or they would be random
    return make_charrnn(V, hidden_size=12, num_layers=2, cell="lstm", input="embedding", embedding_dim=5, dropout=0.3)


@pytest.fixture(scope="module")
def streams() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(V, (12,), generator=generator), torch.randint(V, (40,), generator=generator)


def direct_many_to_many(model, context, targets):
    stream = torch.cat([context, targets])
    model.eval()
    with torch.no_grad():
        logits, _ = model(stream[:-1].unsqueeze(0))
    logits = logits[0, len(context) - 1:]
    return F.cross_entropy(logits, targets, reduction="none"), (logits.argmax(-1) == targets).float()


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_char_losses_many_to_many_equals_one_full_sequence_pass(char_model, streams, chunk):
    context, targets = streams
    char_model.train()
    losses, hits = char_losses(char_model, context, targets, "many_to_many", seq_length=5, chunk=chunk)
    assert char_model.training  # left as it was found
    expected_losses, expected_hits = direct_many_to_many(char_model, context, targets)
    assert losses.shape == hits.shape == (40,)
    torch.testing.assert_close(losses, expected_losses, rtol=1e-5, atol=1e-5)
    assert torch.equal(hits, expected_hits)


def test_char_losses_many_to_many_chunked_equals_unchunked(char_model, streams):
    context, targets = streams
    chunked = char_losses(char_model, context, targets, "many_to_many", 5, chunk=7)
    whole = char_losses(char_model, context, targets, "many_to_many", 5, chunk=10_000)
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(chunked[1], whole[1])


def test_char_losses_many_to_many_with_one_context_char(char_model, streams):
    context, targets = streams
    losses, _ = char_losses(char_model, context[-1:], targets, "many_to_many", 5, chunk=9)
    expected, _ = direct_many_to_many(char_model, context[-1:], targets)
    torch.testing.assert_close(losses, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [4, 10_000])
def test_char_losses_many_to_one_uses_exactly_the_previous_seq_length_chars(char_model, streams, chunk):
    context, targets = streams
    seq_length = 5
    losses, hits = char_losses(char_model, context, targets, "many_to_one", seq_length, chunk=chunk)
    stream = torch.cat([context, targets])
    char_model.eval()
    expected_losses, expected_hits = [], []
    with torch.no_grad():
        for t in range(len(context), len(stream)):
            logits = char_model(stream[t - seq_length:t].unsqueeze(0))[0][0, -1]
            expected_losses.append(F.cross_entropy(logits, stream[t]))
            expected_hits.append(float(int(logits.argmax()) == int(stream[t])))
    torch.testing.assert_close(losses, torch.stack(expected_losses), rtol=1e-5, atol=1e-5)
    assert hits.tolist() == expected_hits


def test_char_losses_many_to_one_differs_from_many_to_many(char_model, streams):
    context, targets = streams
    m2o, _ = char_losses(char_model, context, targets, "many_to_one", 3)
    m2m, _ = char_losses(char_model, context, targets, "many_to_many", 3)
    assert not torch.allclose(m2o, m2m, atol=1e-4)


def test_char_losses_refuses_too_little_context(char_model, streams):
    context, targets = streams
    with pytest.raises(ValueError, match="5 characters of context"):
        char_losses(char_model, context[:4], targets, "many_to_one", 5)
    with pytest.raises(ValueError, match="at least one character"):
        char_losses(char_model, context[:0], targets, "many_to_many", 5)


def test_char_metrics_bits_perplexity_and_accuracy():
    losses = torch.tensor([0.5, 1.5, math.log(2.0), 2 * math.log(2.0)])
    hits = torch.tensor([1.0, 0.0, 1.0, 1.0])
    metrics = char_metrics(losses, hits)
    nats = (0.5 + 1.5 + 3 * math.log(2.0)) / 4
    assert metrics["bits_per_char"] == pytest.approx(nats / math.log(2.0), rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(2 ** metrics["bits_per_char"], rel=1e-12)
    assert metrics["perplexity"] == pytest.approx(math.exp(nats), rel=1e-6)
    assert metrics["top1_accuracy"] == 0.75
    assert metrics["n_test_chars"] == 4


def test_char_metrics_of_a_uniform_guess_is_log2_vocab_bits():
    losses = torch.full((10,), math.log(8.0))
    metrics = char_metrics(losses, torch.zeros(10))
    assert metrics["bits_per_char"] == pytest.approx(3.0, rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(8.0, rel=1e-6)
    assert metrics["top1_accuracy"] == 0.0


def direct_pieces(model, context, targets, pieces, warmup):
    """Each part on its own: a fresh state, the characters before it as warm-up, then its targets."""
    stream = torch.cat([context, targets])
    warm = min(warmup, len(context)) - 1
    length = -(-len(targets) // pieces)
    losses = []
    model.eval()
    with torch.no_grad():
        for first in range(len(context), len(stream), length):
            last = min(first + length, len(stream))
            logits, _ = model(stream[first - 1 - warm:last - 1].unsqueeze(0))
            losses.append(F.cross_entropy(logits[0, warm:], stream[first:last], reduction="none"))
    return torch.cat(losses)


@pytest.mark.parametrize("pieces, warmup", [(1, 100), (3, 100), (7, 4), (40, 12), (500, 1)])
def test_piecewise_char_losses_scores_every_target_once_from_its_own_warm_up(char_model, streams, pieces, warmup):
    context, targets = streams
    char_model.train()
    losses = piecewise_char_losses(char_model, context, targets, pieces, warmup)
    assert char_model.training  # left as it was found
    assert losses.shape == (40,)  # 40 targets: 7 parts of 6, the last of 4; 500 parts: one target each
    torch.testing.assert_close(losses, direct_pieces(char_model, context, targets, pieces, warmup),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 5, 13])
def test_piecewise_char_losses_in_chunks_equals_in_one_go(char_model, streams, chunk):
    context, targets = streams
    whole = piecewise_char_losses(char_model, context, targets, 3, warmup=8)
    torch.testing.assert_close(piecewise_char_losses(char_model, context, targets, 3, warmup=8, chunk=chunk), whole,
                               rtol=1e-5, atol=1e-5)


def test_piecewise_char_losses_in_one_piece_is_char_losses(char_model, streams):
    context, targets = streams
    one_stream, _ = char_losses(char_model, context, targets, "many_to_many", 5)
    torch.testing.assert_close(piecewise_char_losses(char_model, context, targets, 1), one_stream,
                               rtol=1e-5, atol=1e-5)


def test_piecewise_char_losses_later_pieces_forget_what_lies_before_their_warm_up(char_model, streams):
    # The same targets after two different histories: only the first part (whose warm-up is the context) sees it.
    context, targets = streams
    other = (context + 1) % V
    a = piecewise_char_losses(char_model, context, targets, 4, warmup=3)
    b = piecewise_char_losses(char_model, other, targets, 4, warmup=3)
    assert not torch.allclose(a[:10], b[:10])
    torch.testing.assert_close(a[10:], b[10:], rtol=0, atol=0)


def test_piecewise_char_losses_needs_context(char_model, streams):
    with pytest.raises(ValueError, match="at least one character of context"):
        piecewise_char_losses(char_model, streams[0][:0], streams[1], 4)

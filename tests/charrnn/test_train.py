"""Tests for char-RNN training and its batching (rnnpipe.charrnn.train)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rnnpipe.charrnn.corpus import build_vocab, encode
from rnnpipe.charrnn.train import (check_trainable, make_optimizer, sampled_tbptt_batches, tbptt_batches, train_charrnn, window_batch,
                                  window_starts)
from rnnpipe.core import optim
from rnnpipe.core.errors import CorpusError
from rnnpipe.charrnn.params import CharRNNParams

torch.set_num_threads(1)


def test_tbptt_rows_continue_the_same_text_across_chunks():
    ids = torch.arange(103)
    batches = tbptt_batches(ids, batch_size=4, seq_length=5)
    n = (103 - 1) // 4  # 25 characters per stream
    assert len(batches) == 5 and all(x.shape == (4, 5) for x, _ in batches)
    rows = torch.cat([x for x, _ in batches], dim=1)
    for b in range(4):
        assert torch.equal(rows[b], ids[b * n:(b + 1) * n])


def test_tbptt_targets_are_the_inputs_shifted_by_one():
    ids = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6])
    batches = tbptt_batches(ids, batch_size=2, seq_length=3)
    assert [x.shape for x, _ in batches] == [y.shape for _, y in batches]
    inputs = torch.cat([x for x, _ in batches], dim=1)
    targets = torch.cat([y for _, y in batches], dim=1)
    assert torch.equal(inputs, ids[:20].view(2, 10)) and torch.equal(targets, ids[1:21].view(2, 10))


def test_tbptt_last_chunk_is_shorter_when_the_stream_does_not_divide():
    batches = tbptt_batches(torch.arange(23), batch_size=2, seq_length=4)  # 11 per stream: 4 + 4 + 3
    assert [x.shape[1] for x, _ in batches] == [4, 4, 3]


def test_tbptt_offset_shifts_the_streams():
    ids = torch.arange(100)
    batches = tbptt_batches(ids, batch_size=3, seq_length=4, offset=2)
    n = (100 - 1 - 2) // 3  # 32 per stream
    inputs = torch.cat([x for x, _ in batches], dim=1)
    targets = torch.cat([y for _, y in batches], dim=1)
    for b in range(3):
        assert torch.equal(inputs[b], ids[2 + b * n:2 + (b + 1) * n])
        assert torch.equal(targets[b], ids[3 + b * n:3 + (b + 1) * n])


def test_tbptt_fills_its_streams_from_batch_size_plus_one_characters():
    assert len(tbptt_batches(torch.arange(5), batch_size=4, seq_length=2)) == 1


def test_window_batch_gathers_the_windows_and_next_chars():
    ids = torch.arange(100, 150)
    inputs, targets = window_batch(ids, torch.tensor([0, 5, 40]), seq_length=3)
    assert torch.equal(inputs, torch.tensor([[100, 101, 102], [105, 106, 107], [140, 141, 142]]))
    assert torch.equal(targets, torch.tensor([103, 108, 143]))


def test_window_starts_are_every_position_with_a_full_window_before_its_target():
    assert torch.equal(window_starts(torch.zeros(50, dtype=torch.long), ["a"], 10), torch.arange(40))
    assert len(window_starts(torch.zeros(5, dtype=torch.long), ["a"], 10)) == 0


def test_sentence_windows_never_cross_a_sentence():
    text = "ab cd. efg hi? j"
    vocab = build_vocab(text)
    ids = encode(text, vocab)
    starts = window_starts(ids, vocab, 3, within_sentences=True)
    windows = [text[s:s + 4] for s in starts.tolist()]  # three inputs and the target
    assert windows == ["ab c", "b cd", " cd.", "efg ", "fg h", "g hi", " hi?"]
    assert all("." not in w[:3] and "?" not in w[:3] for w in windows)
    assert len(window_starts(ids, vocab, 3)) == len(text) - 3  # without the option: every window


def state_dicts_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


TEXT = "мой дядя самых честных правил. " * 16  # 496 characters of an easily learned cycle


def charrnn_params(**overrides) -> CharRNNParams:
    values = dict(mode="many_to_many", sentence_windows=False, cell="gru", input="embedding", embedding_dim=8, hidden_size=24, num_layers=1,
                  dropout=0.0, weight_dropout=0.0, seq_length=10, batch_size=4, lr=0.02, weight_decay=0.0, adam_beta2=0.999, lr_schedule="cosine", weight_average=0.0, grad_clip=1.0, epochs=2,
                  seed=0, calibrate=True, ngram_order=0, mixture="product", chars_per_epoch=0)
    values.update(overrides)
    return CharRNNParams(**values)


@pytest.fixture(scope="module")
def corpus_ids() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    vocab = build_vocab(TEXT)
    ids = encode(TEXT, vocab)
    return ids[:430], ids[430:], vocab


@pytest.mark.parametrize("overrides", [
    {},
    {"mode": "many_to_one", "input": "one_hot", "cell": "rnn", "batch_size": 32, "lr_schedule": "constant"},
    {"cell": "lstm", "num_layers": 2, "dropout": 0.2},
    {"cell": "lstm", "weight_average": 0.9},
], ids=["many_to_many-gru", "many_to_one-rnn-one_hot", "many_to_many-lstm-dropout", "many_to_many-lstm-average"])
def test_train_charrnn_is_bit_for_bit_deterministic_for_a_seed(corpus_ids, overrides):
    train_ids, val_ids, vocab = corpus_ids
    p = charrnn_params(**overrides)
    first, r1 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    second, r2 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    assert state_dicts_equal(first, second)
    assert [h.train_loss for h in r1.history] == [h.train_loss for h in r2.history]
    other, _ = train_charrnn(train_ids, val_ids, vocab, charrnn_params(**{**overrides, "seed": 1}),
                             show_progress=False)
    assert not state_dicts_equal(first, other)


def test_weight_average_changes_the_kept_model_and_not_the_training(corpus_ids):
    train_ids, val_ids, vocab = corpus_ids
    trained, plain = train_charrnn(train_ids, val_ids, vocab, charrnn_params(cell="lstm"), show_progress=False)
    averaged, result = train_charrnn(train_ids, val_ids, vocab, charrnn_params(cell="lstm", weight_average=0.9),
                                     show_progress=False)
    assert [h.train_loss for h in result.history] == [h.train_loss for h in plain.history]
    assert [h.val_loss for h in result.history] != [h.val_loss for h in plain.history]
    assert not state_dicts_equal(trained, averaged)


@pytest.mark.parametrize("mode", ["many_to_many", "many_to_one"])
def test_train_charrnn_lowers_the_loss_on_a_repeating_text(corpus_ids, mode):
    train_ids, val_ids, vocab = corpus_ids
    p = charrnn_params(mode=mode, batch_size=4 if mode == "many_to_many" else 16)
    model, result = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    assert result.history[1].train_loss < result.history[0].train_loss
    assert result.history[1].val_loss < result.history[0].val_loss
    assert result.best_epoch == 2
    assert not model.training
    if mode == "many_to_one":  # every window once per epoch
        assert result.targets_seen == 2 * (len(train_ids) - 10)
    else:  # epoch 1 from offset 0, epoch 2 from a random offset in [0, seq_length)
        first = (len(train_ids) - 1) // 4 * 4
        assert first + (len(train_ids) - 1 - 9) // 4 * 4 <= result.targets_seen <= 2 * first


def test_check_trainable_refuses_a_corpus_too_short_for_one_batch():
    p = SimpleNamespace(seq_length=10, batch_size=4, mode="many_to_many", sentence_windows=False)
    with pytest.raises(CorpusError) as info:
        check_trainable(torch.zeros(14), 5, p)
    message = str(info.value)
    assert "14 characters" in message and "at least 15" in message and "\n" not in message
    check_trainable(torch.zeros(15), 5, p)
    one = SimpleNamespace(seq_length=10, batch_size=64, mode="many_to_one", sentence_windows=False)
    with pytest.raises(CorpusError, match="at least 12"):
        check_trainable(torch.zeros(11), 5, one)
    check_trainable(torch.zeros(12), 5, one)


def test_check_trainable_refuses_an_empty_validation_split():
    with pytest.raises(CorpusError, match="validation split is empty"):
        check_trainable(torch.zeros(1000), 0, SimpleNamespace(seq_length=10, batch_size=4, mode="many_to_many"))


def test_train_charrnn_refuses_a_too_short_corpus(corpus_ids):
    train_ids, val_ids, vocab = corpus_ids
    with pytest.raises(CorpusError, match="training split has 14 characters"):
        train_charrnn(train_ids[:14], val_ids, vocab, charrnn_params(), show_progress=False)


def test_check_trainable_refuses_sentences_shorter_than_the_window():
    text = "ab. cd. ef."
    vocab = build_vocab(text)
    p = SimpleNamespace(seq_length=4, batch_size=2, mode="many_to_one", sentence_windows=True)
    with pytest.raises(CorpusError, match="no sentence of the training split is longer than charrnn.seq_length = 4"):
        check_trainable(encode(text, vocab), 5, p, vocab)


def test_train_charrnn_with_sentence_windows_trains_on_those_windows_only(corpus_ids):
    train_ids, val_ids, vocab = corpus_ids
    p = charrnn_params(mode="many_to_one", sentence_windows=True, batch_size=16, epochs=1)
    _, result = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    assert result.targets_seen == len(window_starts(train_ids, vocab, p.seq_length, True)) < len(train_ids) - 10


# --- charrnn.chars_per_epoch: a capped epoch --------------------------------------------------------------------

def test_sampled_chunks_are_contiguous_disjoint_and_their_targets_follow_them():
    ids = torch.arange(1001)
    batches = sampled_tbptt_batches(ids, batch_size=4, seq_length=7, chars=100,
                                    generator=torch.Generator().manual_seed(0))
    assert [x.shape[1] for x, _ in batches] == [7, 7, 7, 4]  # 25 characters per stream, state carried along
    inputs = torch.cat([x for x, _ in batches], dim=1)
    targets = torch.cat([y for _, y in batches], dim=1)
    assert inputs.shape == (4, 25) and torch.equal(targets, inputs + 1)
    assert all(torch.equal(row, torch.arange(row[0], row[0] + 25)) for row in inputs)  # each chunk contiguous
    assert len(set(inputs.flatten().tolist())) == 100  # no character twice in one epoch
    assert int(targets.max()) <= 1000


def test_sampled_chunks_are_seeded_and_move_from_epoch_to_epoch():
    ids = torch.arange(5000)

    def chunk_starts(generator: torch.Generator) -> list[int]:
        return sampled_tbptt_batches(ids, 4, 10, 400, generator)[0][0][:, 0].tolist()

    same, other = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    epoch_1, epoch_2 = chunk_starts(same), chunk_starts(same)
    assert epoch_1 != epoch_2
    assert (chunk_starts(other), chunk_starts(other)) == (epoch_1, epoch_2)
    assert chunk_starts(torch.Generator().manual_seed(4)) != epoch_1


def test_sampled_chunks_can_reach_the_last_character():
    ids = torch.arange(103)  # 102 targets: 2 slots of 50 and a phase in [0, 2]
    seen = set()
    for seed in range(40):
        for x, y in sampled_tbptt_batches(ids, 1, 50, 50, torch.Generator().manual_seed(seed)):
            seen.update(y.flatten().tolist())
    assert seen == set(range(1, 103))


@pytest.mark.parametrize("mode, batch_size, cap", [("many_to_many", 4, 80), ("many_to_one", 16, 50)])
def test_a_capped_epoch_trains_on_the_cap_and_is_seeded(corpus_ids, mode, batch_size, cap):
    train_ids, val_ids, vocab = corpus_ids
    p = charrnn_params(mode=mode, batch_size=batch_size, chars_per_epoch=cap)
    first, r1 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    second, r2 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    assert r1.targets_seen == r2.targets_seen == 2 * cap
    assert state_dicts_equal(first, second)
    other, _ = train_charrnn(train_ids, val_ids, vocab, p.model_copy(update={"seed": 1}), show_progress=False)
    assert not state_dicts_equal(first, other)


@pytest.mark.parametrize("mode, batch_size", [("many_to_many", 4), ("many_to_one", 16)])
def test_a_cap_at_or_above_the_training_text_changes_nothing(corpus_ids, mode, batch_size):
    train_ids, val_ids, vocab = corpus_ids
    p = charrnn_params(mode=mode, batch_size=batch_size)
    full, _ = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    capped, _ = train_charrnn(train_ids, val_ids, vocab, p.model_copy(update={"chars_per_epoch": len(train_ids)}),
                              show_progress=False)
    assert state_dicts_equal(full, capped)


def test_weight_decay_is_decoupled_and_beta2_is_adams():
    model = nn.Linear(3, 2)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    adam = make_optimizer(model, charrnn_params(lr=0.1, adam_beta2=0.95))
    assert type(adam) is optim.Adam and adam.defaults["betas"] == (0.9, 0.95)
    adamw = make_optimizer(model, charrnn_params(lr=0.1, weight_decay=0.5))
    assert type(adamw) is optim.AdamW and adamw.defaults["betas"] == (0.9, 0.999)
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    adam.step()  # a zero gradient moves nothing in Adam
    assert all(torch.equal(param, before[name]) for name, param in model.named_parameters())
    adamw.step()  # AdamW shrinks every weight by lr × weight_decay, gradient or not
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.detach(), before[name] * (1 - 0.1 * 0.5))

"""The char-RNN's held-out bits/char, perplexity and accuracy, next to unigram and Kneser-Ney n-gram baselines."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from rnnpipe.charrnn.model import CharRNN
from rnnpipe.charrnn.params import CharMode

LOG2E = 1.0 / math.log(2.0)  # nats → bits
# Text before a scored split that warms up the recurrent state (and feeds the n-gram's contexts): validation in
# training, the test in evaluation.
CONTEXT_CHARS = 200
# The figures a char-RNN is judged by (metrics/charrnn.json); the rest goes to reports/charrnn_test.json.
RESULTS = ("bits_per_char", "rnn_bits_per_char", "ngram_bits_per_char", "unigram_bits_per_char")


@torch.no_grad()
def char_losses(model: CharRNN, context: torch.Tensor, targets: torch.Tensor, mode: CharMode, seq_length: int,
                chunk: int = 2048, with_ngram: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-target cross-entropy (nats) and top-1 hit for every character of `targets`, under the char model's
    log_probs (with its n-gram part, when it has one), or its RNN part alone (rnn_log_probs) when with_ngram is
    false.

    `context` is the text just before `targets` (e.g. the end of the previous split), so even the first target
    has history. many_to_many: one stream, state carried; many_to_one: the previous seq_length characters only,
    exactly as the model was trained.
    """
    stream = torch.cat([context, targets]).long()
    losses: list[torch.Tensor] = []
    hits: list[torch.Tensor] = []
    for logits, where in _stream_logits(model, stream, len(context), mode, seq_length, chunk):
        if with_ngram:
            log_probs = model.log_probs(logits, stream, where)
            best = log_probs.argmax(-1)
        else:
            # log_softmax is monotone: the logits' argmax is its own, without the rounding that could tie two.
            log_probs, best = model.rnn_log_probs(logits), logits.argmax(-1)
        outcomes = stream[where]
        losses.append(-log_probs.gather(1, outcomes.unsqueeze(1)).squeeze(1))
        hits.append((best == outcomes).float())
    return torch.cat(losses), torch.cat(hits)


@torch.no_grad()
def char_log_probs(model: nn.Module, context: torch.Tensor, targets: torch.Tensor, mode: CharMode, seq_length: int,
                   chunk: int = 2048) -> torch.Tensor:
    """[len(targets), V]: the RNN part's log-probabilities of every character at every target as trained (the
    log_softmax of its logits, temperature 1), scored as char_losses scores them."""
    stream = torch.cat([context, targets]).long()
    return torch.cat([torch.log_softmax(logits, dim=-1)
                      for logits, _ in _stream_logits(model, stream, len(context), mode, seq_length, chunk)])


def _stream_logits(model: nn.Module, stream: torch.Tensor, start: int, mode: CharMode, seq_length: int,
                   chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(the RNN's logits [m, V], the stream positions [m] they predict) for the targets stream[start:], `chunk` at a
    time, the model in eval mode meanwhile."""
    was_training = model.training
    model.eval()
    try:
        if mode == "many_to_many":
            if start < 1:
                raise ValueError("char_losses needs at least one character of context")
            state = None
            # Inputs are stream[t-1] for each target t >= start; the context before that warms the state up.
            if start > 1:
                _, state = model(stream[:start - 1].unsqueeze(0), None)
            for begin in range(start, len(stream), chunk):
                end = min(begin + chunk, len(stream))
                logits, state = model(stream[begin - 1:end - 1].unsqueeze(0), state)
                yield logits[0], torch.arange(begin, end)
        else:
            if start < seq_length:
                raise ValueError(f"char_losses needs {seq_length} characters of context, got {start}")
            for part in torch.arange(start, len(stream)).split(chunk):
                windows = stream[part.unsqueeze(1) - seq_length + torch.arange(seq_length)]
                logits, _ = model(windows)
                yield logits[:, -1], part
    finally:
        model.train(was_training)


def piecewise_char_losses(model: nn.Module, context: torch.Tensor, targets: torch.Tensor, pieces: int,
                          warmup: int = CONTEXT_CHARS, chunk: int = 4096) -> torch.Tensor:
    """Per-target cross-entropy (nats) of a many_to_many model, with `targets` cut into `pieces` contiguous parts
    that run side by side as one batch: `pieces` times fewer sequential steps than char_losses' one stream.

    Each part starts from a fresh state warmed up on the min(warmup, len(context)) characters before it (from
    `context` for the first part), as char_losses warms its one stream up on `context`: with the whole context as
    warm-up, the first part is scored as there.
    Later parts lose the memory of what lies more than `warmup` characters back. The parts advance `chunk` steps
    at a time, the state carried, so memory stays bounded for any length. Used for the per-epoch validation figure;
    the test figure is char_losses'.
    """
    if len(context) < 1:
        raise ValueError("piecewise_char_losses needs at least one character of context")
    was_training = model.training
    model.eval()
    stream = torch.cat([context, targets]).long()
    start, n = len(context), len(targets)
    length = -(-n // max(1, min(pieces, n)))   # characters scored per part; the last part may have fewer
    count = -(-n // length)
    warm = min(warmup, start) - 1              # inputs before a part's first scored one (char_losses: start - 1)
    firsts = start + length * torch.arange(count)   # stream index of each part's first target
    # Row k: inputs stream[first_k - 1 - warm : first_k - 1 + length]; the last row is padded past the stream's end
    # (its logits there are dropped).
    index = (firsts - 1 - warm).unsqueeze(1) + torch.arange(warm + length)
    padded = torch.cat([stream, stream.new_zeros(count * length - n + 1)])
    inputs, outcomes = padded[index], padded[index + 1]
    losses, state = [], None
    with torch.no_grad():
        for begin in range(0, warm + length, chunk):
            logits, state = model(inputs[:, begin:begin + chunk], state)
            losses.append(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                      outcomes[:, begin:begin + chunk].reshape(-1),
                                                      reduction="none").view(count, -1))
    model.train(was_training)
    return torch.cat(losses, dim=1)[:, warm:].reshape(-1)[:n]


def mean_of(values: torch.Tensor) -> float:
    """A float64 mean in numpy: one thread, so its bits do not depend on torch's thread count."""
    return float(np.mean(values.detach().double().numpy()))


def char_metrics(losses: torch.Tensor, hits: torch.Tensor) -> dict[str, float]:
    bits = mean_of(losses) * LOG2E
    return {"bits_per_char": bits, "perplexity": 2.0 ** bits, "top1_accuracy": mean_of(hits),
            "n_test_chars": int(len(losses))}


def baseline_metrics(train_ids: Sequence[int] | torch.Tensor, context_ids: Sequence[int] | torch.Tensor,
                     test_ids: Sequence[int] | torch.Tensor, vocab_size: int, order: int) -> dict[str, float]:
    """Unigram and Kneser-Ney n-gram bits/char on exactly the targets the RNN is scored on."""
    from rnnpipe.charrnn.ngram import kneser_ney_bits_per_char, unigram_bits_per_char

    train, context, test = (list(map(int, ids)) for ids in (train_ids, context_ids, test_ids))
    return {
        "unigram_bits_per_char": unigram_bits_per_char(train, test, vocab_size),
        "ngram_order": order,
        "ngram_bits_per_char": kneser_ney_bits_per_char(train, context + test, len(context), order,
                                                                 vocab_size),
    }


def held_out_metrics(model: CharRNN, mode: CharMode, seq_length: int, train: torch.Tensor, val: torch.Tensor,
                 test: torch.Tensor, vocab_size: int, ngram_order: int) -> dict[str, float]:
    """metrics/charrnn.json: the model and both baselines on every test character, each with the same context
    (the end of train + val, at least the model's window). The baselines count the training and the validation
    text, all the text before the test part, as the model's n-gram part does (train_charrnn.fit_outputs). A model
    with an n-gram part is scored as the mixture (bits_per_char, top1_accuracy), its RNN alone (rnn_*) and its
    n-gram alone (ngram_part_bits_per_char, only then)."""
    before_test = torch.cat([train, val])
    context = before_test[-max(CONTEXT_CHARS, seq_length):]
    metrics = char_metrics(*char_losses(model, context, test, mode, seq_length))
    config = model.config
    mixed_order = config.ngram_order
    if mixed_order:
        rnn_losses, rnn_hits = char_losses(model, context, test, mode, seq_length, with_ngram=False)
        metrics["rnn_bits_per_char"] = mean_of(rnn_losses) * LOG2E
        metrics["rnn_top1_accuracy"] = mean_of(rnn_hits)
        metrics["ngram_part_bits_per_char"] = model.ngram.bits_per_char(torch.cat([context, test]).numpy(),
                                                                        len(context))
    else:
        metrics["rnn_bits_per_char"] = metrics["bits_per_char"]
        metrics["rnn_top1_accuracy"] = metrics["top1_accuracy"]
    metrics["rnn_temperature"] = config.rnn_temperature
    metrics["mixed_ngram_order"] = mixed_order
    metrics["mixed_rnn_weight"] = config.rnn_weight if mixed_order else 1.0
    metrics["mixed_ngram_weight"] = config.ngram_weight if mixed_order else 0.0
    metrics.update(baseline_metrics(before_test, context, test, vocab_size, ngram_order))
    metrics["bits_per_char_minus_ngram"] = metrics["bits_per_char"] - metrics["ngram_bits_per_char"]
    return metrics

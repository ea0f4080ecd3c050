"""Training the char-RNN: many-to-many with truncated BPTT (state carried across batches), or the course's
many-to-one windows; cross-entropy in nats, the best validation epoch kept."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from rnnpipe.charrnn.evaluate import (CONTEXT_CHARS, LOG2E, char_log_probs, char_losses, mean_of,
                                      piecewise_char_losses)
from rnnpipe.charrnn.inputs import check_split_lengths
from rnnpipe.charrnn.mixture import FIT_TARGETS, NO_GATES, fit_temperature, fit_weights, gate_signals
from rnnpipe.charrnn.model import CharRNN, CharRNNConfig
from rnnpipe.charrnn.ngram import KneserNey
from rnnpipe.core.errors import CorpusError
from rnnpipe.charrnn.params import CharRNNParams, Mixture
from rnnpipe.core import optim
from rnnpipe.core.recurrent import detach_state
from rnnpipe.core.threads import LoadAwareThreads
from rnnpipe.core.training import EpochResult, FitResult, fit, make_scheduler


def tbptt_batches(ids: torch.Tensor, batch_size: int, seq_length: int, offset: int = 0
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut the corpus into batch_size parallel streams and those into seq_length chunks (views, no copies).

    Row b of consecutive chunks continues the same text, so the recurrent state can be carried across batches.
    """
    n = (len(ids) - 1 - offset) // batch_size  # >= 1: check_trainable asks for seq_length + batch_size + 1 chars
    inputs = ids[offset:offset + n * batch_size].view(batch_size, n)
    targets = ids[offset + 1:offset + 1 + n * batch_size].view(batch_size, n)
    return [(inputs[:, i:i + seq_length], targets[:, i:i + seq_length]) for i in range(0, n, seq_length)]


def sampled_tbptt_batches(ids: torch.Tensor, batch_size: int, seq_length: int, chars: int,
                          generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """About `chars` training characters as batch_size contiguous chunks, one per stream, from seeded random places
    that do not overlap; cut into seq_length chunks like tbptt_batches, so the state is carried along each chunk.

    Chunks sit on a grid of chunk-sized slots shifted by a random phase, so any character can be sampled and no
    character is seen twice in one epoch. Needs chars < len(ids) - 1 (a larger cap is every character:
    tbptt_batches).
    """
    length = chars // batch_size  # >= seq_length: params ask for chars_per_epoch >= batch_size × seq_length
    slots = (len(ids) - 1) // length  # >= batch_size, as chars < len(ids) - 1
    phase = int(torch.randint(len(ids) - 1 - slots * length + 1, (1,), generator=generator))
    starts = phase + torch.randperm(slots, generator=generator)[:batch_size] * length
    positions = starts.unsqueeze(1) + torch.arange(length)
    inputs, targets = ids[positions], ids[positions + 1]
    return [(inputs[:, i:i + seq_length], targets[:, i:i + seq_length]) for i in range(0, length, seq_length)]


def caps_the_epoch(p: CharRNNParams, n_train: int) -> bool:
    """Whether charrnn.chars_per_epoch leaves out part of the training text (at or above its length it does not)."""
    return 0 < p.chars_per_epoch < n_train - 1


VAL_PIECES = 16  # parts of the validation text scored side by side (piecewise_char_losses)
SENTENCE_ENDS = ".?"  # what ends a sentence in the cleaned text ("!" is cleaned away)


def window_starts(ids: torch.Tensor, vocab: Sequence[str], seq_length: int, within_sentences: bool = False
                  ) -> torch.Tensor:
    """Where the (seq_length previous chars → next char) windows of a text start.

    within_sentences: only windows whose characters and target lie in one sentence (the course's tiny corpus):
    no sentence end among the inputs (the target may be the end itself), and no start on the space between two
    sentences.
    """
    starts = torch.arange(max(0, len(ids) - seq_length))
    if not within_sentences or len(starts) == 0:
        return starts
    ends = torch.isin(ids, torch.tensor([i for i, ch in enumerate(vocab) if ch in SENTENCE_ENDS], dtype=ids.dtype))
    ends_before = torch.cat([torch.zeros(1, dtype=torch.long), ends.long().cumsum(0)])
    no_end_inside = ends_before[starts + seq_length] == ends_before[starts]
    space = vocab.index(" ") if " " in vocab else -1
    on_separator = (ids[starts] == space) & ends[(starts - 1).clamp(min=0)] & (starts > 0)
    return starts[no_end_inside & ~on_separator]


def window_batch(ids: torch.Tensor, starts: torch.Tensor, seq_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather windows by tensor indexing: inputs [B, seq_length], targets [B]."""
    return ids[starts.unsqueeze(1) + torch.arange(seq_length)], ids[starts + seq_length]


def check_trainable(train_ids: torch.Tensor, n_val: int, p: CharRNNParams, vocab: Sequence[str] = ()) -> None:
    """check_split_lengths, and for sentence-bounded windows (many_to_one) at least one window in a sentence."""
    check_split_lengths(len(train_ids), n_val, p)
    if p.mode == "many_to_one" and p.sentence_windows and not len(window_starts(train_ids, vocab, p.seq_length,
                                                                                    True)):
        raise CorpusError(f"no sentence of the training split is longer than charrnn.seq_length = {p.seq_length}: "
                          "use a smaller seq_length or charrnn.sentence_windows: false")


def make_optimizer(model: nn.Module, p: CharRNNParams) -> torch.optim.Optimizer:
    """Adam on every parameter; with p.weight_decay > 0 AdamW, whose decay is decoupled from the gradient's moments
    (each update also multiplies every weight by 1 - lr × weight_decay). fused: one kernel per update for all
    parameters (elementwise: the same bits at any thread count), 1 ms/batch less."""
    betas = (0.9, p.adam_beta2)
    if p.weight_decay:
        return optim.AdamW(model.parameters(), lr=p.lr, betas=betas, weight_decay=p.weight_decay, fused=True)
    return optim.Adam(model.parameters(), lr=p.lr, betas=betas, fused=True)


def train_charrnn(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab: Sequence[str], p: CharRNNParams,
                  on_epoch: Optional[Callable[[EpochResult], None]] = None,
                  show_progress: bool = True, threads: Optional[LoadAwareThreads] = None
                  ) -> tuple[CharRNN, CharFitResult]:
    """Char-RNN trained many-to-many (truncated BPTT, state carried) or many-to-one (the course's windows); with
    p.ngram_order > 0 it then gets its n-gram part (attach_ngram). p.chars_per_epoch > 0 caps the training targets of
    an epoch: sampled contiguous chunks (many_to_many) or windows (many_to_one), seeded; validation is unchanged."""
    check_trainable(train_ids, len(val_ids), p, vocab)
    torch.manual_seed(p.seed)
    model = CharRNN(CharRNNConfig.from_params(p, vocab))
    vocab_size = len(vocab)
    optimizer = make_optimizer(model, p)
    scheduler = make_scheduler(p.lr_schedule, optimizer, p.lr, p.epochs)
    order = torch.Generator().manual_seed(p.seed)
    many_to_many = p.mode == "many_to_many"
    carried: dict[str, Any] = {"state": None}
    starts = window_starts(train_ids, vocab, p.seq_length, p.mode == "many_to_one" and p.sentence_windows)

    capped = caps_the_epoch(p, len(train_ids))

    def epoch_batches(epoch: int) -> list[Any]:
        if many_to_many:
            carried["state"] = None
            if capped:
                return sampled_tbptt_batches(train_ids, p.batch_size, p.seq_length, p.chars_per_epoch, order)
            # A fresh chunk phase each epoch, so chunk boundaries fall in different places.
            offset = int(torch.randint(p.seq_length, (1,), generator=order)) if epoch > 1 else 0
            return tbptt_batches(train_ids, p.batch_size, p.seq_length, offset)
        shuffled = starts[torch.randperm(len(starts), generator=order)]
        return list((shuffled[:p.chars_per_epoch] if p.chars_per_epoch else shuffled).split(p.batch_size))

    def batch_loss(batch: Any) -> tuple[torch.Tensor, int]:
        if many_to_many:
            inputs, targets = batch
            logits, state = model(inputs, carried["state"])
            carried["state"] = detach_state(state)
            return nn.functional.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1)), targets.numel()
        inputs, targets = window_batch(train_ids, batch, p.seq_length)
        logits, _ = model(inputs)
        return nn.functional.cross_entropy(logits[:, -1], targets), len(targets)

    def validation_losses() -> torch.Tensor:
        # Validation text follows the training text: its first characters get their context from there.
        if many_to_many:
            # One stream of 32 K steps at batch 1 took 9% of training; its pieces side by side give the same
            # figure (to 1e-8 on the default model: CONTEXT_CHARS of warm-up is more than the LSTM remembers).
            return piecewise_char_losses(model, train_ids[-CONTEXT_CHARS:], val_ids, VAL_PIECES)
        return char_losses(model, train_ids[-p.seq_length:], val_ids, p.mode, p.seq_length)[0]

    result = fit(model, optimizer, epoch_batches, batch_loss, lambda: mean_of(validation_losses()), p.epochs,
                 grad_clip=p.grad_clip, on_epoch=on_epoch, desc="charrnn", show_progress=show_progress,
                 scheduler=scheduler, threads=threads, weight_average=p.weight_average)
    model.load_state_dict(result.kept_state)
    model.eval()
    return model, fit_outputs(model, result, train_ids, val_ids, p.calibrate, p.ngram_order, p.mixture)


@dataclass
class CharFitResult(FitResult):
    """FitResult, and what was fitted on validation after training (on the validation characters up to
    FIT_TARGETS): the loss (nats) of the RNN alone at its fitted temperature and as trained, and of the model with
    its n-gram part, when it has one."""

    rnn_val_loss: float = float("nan")
    raw_rnn_val_loss: float = float("nan")
    mixed_val_loss: Optional[float] = None
    ngram_seconds: float = 0.0  # the fits after training (temperature, n-gram part), included in `seconds`


def fit_outputs(model: CharRNN, result: FitResult, train_ids: torch.Tensor, val_ids: torch.Tensor, calibrate: bool,
                order: int, mixture: Mixture = "product") -> CharFitResult:
    """Fit what the trained RNN's output goes through (rnnpipe.charrnn.mixture) on (the first FIT_TARGETS
    characters of) the validation text, scored as the test text is in evaluation (char_losses):
    - calibrate: the RNN part's softmax temperature (fit_temperature; otherwise 1);
    - order > 0: the n-gram part, a Kneser-Ney `order`-gram estimated on the training text, mixed in with the
      weights that minimise the loss (mixture "gated": weights that follow the n-gram's signals, gate_signals).
      With its weights fixed, the model's n-gram part is then counted again on the training and the validation
      text, all the text before the test part: the validation figure (mixed_val_loss) is the training-text
      n-gram's, and the test part is scored with what the model ships."""
    started = time.perf_counter()
    c = model.config
    context = train_ids[-max(CONTEXT_CHARS, c.seq_length):]  # the validation text follows the training text
    fitted = val_ids[:FIT_TARGETS]
    stream = torch.cat([context, fitted]).long().numpy()
    targets = stream[len(context):]
    rnn_log_probs = char_log_probs(model, context, fitted, c.mode, c.seq_length).numpy()
    calibration = fit_temperature(rnn_log_probs, targets)
    if calibrate:
        model.set_temperature(calibration.temperature)
    mixed_val_loss = None
    if order:
        ngram = KneserNey(train_ids.numpy(), order, c.vocab_size)
        positions = np.arange(len(context), len(stream))
        signals = None
        if mixture == "gated":
            distributions, depths = ngram.distributions_and_depths(stream, positions)
            signals = gate_signals(distributions, depths, order)
        else:
            distributions = ngram.distributions(stream, positions)
        fit = fit_weights(rnn_log_probs, np.log(distributions), targets, signals)
        model.attach_ngram(torch.cat([train_ids, val_ids]), order, fit.rnn_weight, fit.ngram_weight,
                           fit.gate_weights)
        mixed_val_loss = fit.loss
    seconds = time.perf_counter() - started
    return CharFitResult(**{**vars(result), "seconds": result.seconds + seconds},
                         rnn_val_loss=calibration.loss if calibrate else calibration.raw_loss,
                         raw_rnn_val_loss=calibration.raw_loss, mixed_val_loss=mixed_val_loss, ngram_seconds=seconds)


def training_summary(result: CharFitResult, n_train: int, vocab_size: int, model: Optional[CharRNN] = None
                     ) -> dict[str, Any]:
    """reports/charrnn_train.json: deterministic figures only (no timings), in bits per character.
    combined_val_bits_per_char is the kept model's validation figure: with its n-gram part when it has one;
    rnn_val_bits_per_char its RNN part alone at its temperature, raw_rnn_val_bits_per_char at temperature 1."""
    summary = {"best_epoch": result.best_epoch, "best_val_bits_per_char": result.best_val_loss * LOG2E,
               "train_chars": n_train, "vocab_size": vocab_size}
    mixed = getattr(result, "mixed_val_loss", None)
    config = model.config if model is not None and mixed is not None else None
    summary["ngram_order"] = config.ngram_order if config else 0
    summary["rnn_weight"] = config.rnn_weight if config else 1.0
    summary["ngram_weight"] = config.ngram_weight if config else 0.0
    for name, weight in zip(("rnn_depth_gate", "rnn_entropy_gate", "ngram_depth_gate", "ngram_entropy_gate"),
                            config.gate_weights if config else NO_GATES):
        summary[name] = weight
    summary["combined_val_bits_per_char"] = (mixed if mixed is not None else result.rnn_val_loss) * LOG2E
    summary["rnn_temperature"] = model.config.rnn_temperature if model is not None else 1.0
    summary["rnn_val_bits_per_char"] = result.rnn_val_loss * LOG2E
    summary["raw_rnn_val_bits_per_char"] = result.raw_rnn_val_loss * LOG2E
    return summary

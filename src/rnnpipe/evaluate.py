"""Metrics and honest baselines for both models."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

LOG2E = 1.0 / math.log(2.0)


# --- the forecaster ---------------------------------------------------------------------------------------------

def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


def linear_ar_fit(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares AR over the same window the RNN sees: coefficients for [window..., 1]."""
    design = np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, np.asarray(targets, dtype=np.float64), rcond=None)
    return coefficients


def linear_ar_predict(coefficients: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    return np.hstack([inputs, np.ones((len(inputs), 1))]).astype(np.float64) @ coefficients


def forecaster_metrics(model: nn.Module, windows: dict[str, torch.Tensor], clean_test: np.ndarray
                       ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Test MSE of the model and of three baselines on the same targets, plus the ratios between them.

    persistence: repeat the last value; linear AR: least squares on the training windows (fit + val);
    noise floor: the clean signal itself, i.e. the error no predictor of the noisy targets can avoid.
    """
    x_train = torch.cat([windows["x_fit"], windows["x_val"]]).numpy()
    y_train = torch.cat([windows["y_fit"], windows["y_val"]]).numpy()
    x_test, y_test = windows["x_test"].numpy(), windows["y_test"].numpy()
    with torch.no_grad():
        predicted = model(windows["x_test"]).numpy()
    linear = linear_ar_predict(linear_ar_fit(x_train, y_train), x_test)
    metrics = {
        "test_mse": mse(predicted, y_test),
        "persistence_mse": mse(x_test[:, -1], y_test),
        "linear_ar_mse": mse(linear, y_test),
        "noise_floor_mse": mse(clean_test, y_test),
        "n_test_targets": int(len(y_test)),
    }
    metrics["test_mse_over_linear_ar"] = metrics["test_mse"] / metrics["linear_ar_mse"]
    metrics["test_mse_over_noise_floor"] = metrics["test_mse"] / metrics["noise_floor_mse"]
    metrics["test_mse_over_persistence"] = metrics["test_mse"] / metrics["persistence_mse"]
    return metrics, {"prediction": predicted, "linear_ar": linear, "target": y_test}


# --- the char-RNN -----------------------------------------------------------------------------------------------

@torch.no_grad()
def char_losses(model: nn.Module, context: torch.Tensor, targets: torch.Tensor, mode: str, seq_length: int,
                chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-target cross-entropy (nats) and top-1 hit for every character of `targets`.

    `context` is the text just before `targets` (e.g. the end of the previous split), so even the first target
    has history. many_to_many: one stream, state carried; many_to_one: the previous seq_length characters only,
    exactly as the model was trained.
    """
    was_training = model.training
    model.eval()
    stream = torch.cat([context, targets]).long()
    start = len(context)
    losses, hits = [], []
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
            _collect(logits[0], stream[begin:end], losses, hits)
    elif mode == "many_to_one":
        if start < seq_length:
            raise ValueError(f"char_losses needs {seq_length} characters of context, got {start}")
        positions = torch.arange(start, len(stream))
        for part in positions.split(chunk):
            windows = stream[part.unsqueeze(1) - seq_length + torch.arange(seq_length)]
            logits, _ = model(windows)
            _collect(logits[:, -1], stream[part], losses, hits)
    else:
        raise ValueError(f"mode = {mode!r}: allowed is many_to_many or many_to_one")
    model.train(was_training)
    return torch.cat(losses), torch.cat(hits)


def _collect(logits: torch.Tensor, targets: torch.Tensor, losses: list, hits: list) -> None:
    losses.append(nn.functional.cross_entropy(logits, targets, reduction="none"))
    hits.append((logits.argmax(-1) == targets).float())


def char_metrics(losses: torch.Tensor, hits: torch.Tensor) -> dict[str, float]:
    bits = float(losses.double().mean()) * LOG2E
    return {"bits_per_char": bits, "perplexity": 2.0 ** bits, "top1_accuracy": float(hits.double().mean()),
            "n_test_chars": int(len(losses))}


def baseline_metrics(train_ids: Any, context_ids: Any, test_ids: Any, vocab_size: int, order: int) -> dict[str, float]:
    """Unigram and Kneser-Ney n-gram bits/char on exactly the targets the RNN is scored on."""
    from rnnpipe.ngram import kneser_ney_bits_per_char, unigram_bits_per_char

    train, context, test = (list(map(int, ids)) for ids in (train_ids, context_ids, test_ids))
    return {
        "unigram_bits_per_char": unigram_bits_per_char(train, test, vocab_size),
        "ngram_order": order,
        "ngram_bits_per_char": kneser_ney_bits_per_char(train, context + test, len(context), order,
                                                                 vocab_size),
    }

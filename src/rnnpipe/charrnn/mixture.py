"""The char model's n-gram part: the RNN's next-character distribution combined with a Kneser-Ney n-gram's.

    p(c | text) ∝ p_rnn(c | text) ** a  ·  p_ngram(c | the last order-1 characters) ** b

a log-linear mixture (a product of experts, renormalised over the vocabulary). The n-gram is estimated on the
training text (as the baseline is) and the two weights a, b on the validation text, after the RNN is trained, so
the test text is never looked at. The two models make different mistakes: the RNN generalises across contexts,
the high-order n-gram remembers exact 5-10 character contexts (word endings, whole short words) that an RNN of
this size does not learn in the training budget, and the mixture beats both (docs/benchmarks.md; on the default
model it also beats the linear mixture w · p_rnn + (1 - w) · p_ngram by 0.01 bits/char). The result is a
distribution over the vocabulary, so bits/char stay comparable with any other model's.
"""
from __future__ import annotations

from typing import NamedTuple, TypeVar

import numpy as np
import torch

# Validation targets the weights are fitted on, at most (the first ones): two weights need far fewer, and the fit
# holds a few float64 [targets, V] arrays (≈ 3 KB per target at V = 75).
FIT_TARGETS = 100_000
_NEWTON_STEPS = 50
Scores = TypeVar("Scores", torch.Tensor, np.ndarray)


def mixture_scores(rnn_log_probs: Scores, ngram_log_probs: Scores, rnn_weight: float, ngram_weight: float
                   ) -> Scores:
    """a · log p_rnn + b · log p_ngram: the mixture's log-probabilities up to their normaliser (log_softmax), for
    torch tensors (CharRNN.log_probs) and numpy arrays (the weights' fit) alike: elementwise float64, the same bits
    from either."""
    return rnn_weight * rnn_log_probs + ngram_weight * ngram_log_probs


def mixed_log_probs(logits: torch.Tensor, ngram_distributions: np.ndarray, rnn_weight: float,
                    ngram_weight: float) -> torch.Tensor:
    """log p of the mixture over the vocabulary, float64 [..., V], from the RNN's logits [..., V] and the n-gram's
    distributions [..., V] at the same positions: what CharRNN.log_probs gives."""
    scores = mixture_scores(torch.log_softmax(logits.double(), dim=-1),
                            torch.log(torch.from_numpy(np.asarray(ngram_distributions, dtype=np.float64))),
                            rnn_weight, ngram_weight)
    return torch.log_softmax(scores, dim=-1)


class MixtureFit(NamedTuple):
    rnn_weight: float
    ngram_weight: float
    loss: float  # the mixture's mean cross-entropy (nats) on the targets it was fitted on


def fit_weights(rnn_log_probs: np.ndarray, ngram_log_probs: np.ndarray, targets: np.ndarray) -> MixtureFit:
    """The weights (a, b) that minimise the mean cross-entropy of softmax(a · rnn_log_probs + b · ngram_log_probs)
    on `targets`: [n, V], [n, V], [n].

    The loss is convex in (a, b) (a log-linear model), so Newton's method from (1, 0), the RNN alone, with step
    halving until the loss drops, finds the minimum in a few steps. Elementwise float64 numpy and 2 × 2 solves, so
    the result does not depend on the machine's thread count. The scores are mixture_scores, as in prediction; the
    normaliser is computed here in numpy beside the derivatives Newton needs, and its loss is the validation figure
    the training report gives."""
    rnn = np.asarray(rnn_log_probs)
    ngram = np.asarray(ngram_log_probs)
    y = np.asarray(targets, dtype=np.int64)
    if not (np.all(np.isfinite(rnn)) and np.all(np.isfinite(ngram))):
        raise ValueError("log-probabilities must be finite (every probability > 0)")
    f0, f1 = rnn.astype(np.float64), ngram.astype(np.float64)
    rows = np.arange(y.size)
    observed = np.array([f0[rows, y].mean(), f1[rows, y].mean()])  # E_data[f]

    def loss_and_derivatives(weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        scores = mixture_scores(f0, f1, weights[0], weights[1])
        top = scores.max(axis=1, keepdims=True)
        probs = np.exp(scores - top)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        loss = float(np.mean(np.log(total[:, 0]) + top[:, 0] - scores[rows, y]))
        e0, e1 = (probs * f0).sum(axis=1), (probs * f1).sum(axis=1)  # E_p[f] per target
        # The Hessian is the mean covariance of f under p: E_p[f_i f_j] - E_p[f_i] E_p[f_j].
        h00 = np.mean((probs * f0 * f0).sum(axis=1) - e0 * e0)
        h01 = np.mean((probs * f0 * f1).sum(axis=1) - e0 * e1)
        h11 = np.mean((probs * f1 * f1).sum(axis=1) - e1 * e1)
        return loss, np.array([e0.mean(), e1.mean()]) - observed, np.array([[h00, h01], [h01, h11]])

    weights = np.array([1.0, 0.0])
    loss, gradient, hessian = loss_and_derivatives(weights)
    for _ in range(_NEWTON_STEPS):
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), -gradient)
        if not np.all(np.isfinite(step)) or float(-gradient @ step) < 1e-14:
            break  # converged (or a flat direction): the Newton decrement is nil
        for _ in range(40):
            candidate = weights + step
            new_loss, new_gradient, new_hessian = loss_and_derivatives(candidate)
            if new_loss <= loss:
                break
            step = step / 2
        else:
            break
        weights, loss, gradient, hessian = candidate, new_loss, new_gradient, new_hessian
    return MixtureFit(float(weights[0]), float(weights[1]), loss)


class TemperatureFit(NamedTuple):
    temperature: float
    loss: float      # mean cross-entropy (nats) of softmax(log_probs / temperature) on the targets
    raw_loss: float  # the same at temperature 1: the RNN as trained


def fit_temperature(log_probs: np.ndarray, targets: np.ndarray) -> TemperatureFit:
    """The temperature T that minimises the mean cross-entropy of softmax(log_probs / T) on `targets` ([n, V], [n]):
    temperature scaling of the RNN part, fitted like the mixture's weights on validation characters after training.

    A net trained with dropout and evaluated without it is over-confident on text it has not seen (T > 1 softens
    it); T changes no argmax. The loss is convex in 1/T (the one-feature case of fit_weights), so Newton's method
    from 1/T = 1, with step halving until the loss drops and 1/T stays positive, finds the minimum in a few steps;
    elementwise float64 numpy, the same bits at any thread count."""
    f = np.asarray(log_probs, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if not np.all(np.isfinite(f)):
        raise ValueError("log-probabilities must be finite (every probability > 0)")
    rows = np.arange(y.size)
    observed = f[rows, y].mean()

    def loss_and_derivatives(inverse: float) -> tuple[float, float, float]:
        scores = inverse * f
        top = scores.max(axis=1, keepdims=True)
        probs = np.exp(scores - top)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        loss = float(np.mean(np.log(total[:, 0]) + top[:, 0] - scores[rows, y]))
        expected = (probs * f).sum(axis=1)
        return loss, float(expected.mean() - observed), float(np.mean((probs * f * f).sum(axis=1)
                                                                      - expected * expected))

    inverse = 1.0
    loss, gradient, curvature = loss_and_derivatives(inverse)
    raw_loss = loss
    for _ in range(_NEWTON_STEPS):
        if not curvature > 0 or gradient * gradient / curvature < 1e-14:
            break  # converged (or flat): the Newton decrement is nil
        step = -gradient / curvature
        for _ in range(40):
            candidate = inverse + step
            if candidate > 0:
                new_loss, new_gradient, new_curvature = loss_and_derivatives(candidate)
                if new_loss <= loss:
                    break
            step = step / 2
        else:
            break
        inverse, loss, gradient, curvature = candidate, new_loss, new_gradient, new_curvature
    return TemperatureFit(1.0 / inverse, loss, raw_loss)

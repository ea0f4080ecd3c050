"""The char model's n-gram part: the RNN's next-character distribution combined with a Kneser-Ney n-gram's.

    p(c | text) ∝ p_rnn(c | text) ** a  ·  p_ngram(c | the last order-1 characters) ** b

a log-linear mixture (a product of experts, renormalised over the vocabulary). The two weights a, b are fitted on
the validation text after the RNN is trained, with the n-gram estimated on the training text; the model then
counts its n-gram again on the training and validation text, all the text before the test part (as the baselines
are), so the test text is never looked at. The two models make different mistakes: the RNN generalises across contexts,
the high-order n-gram remembers exact 5-10 character contexts (word endings, whole short words) that an RNN of
this size does not learn in the training budget, and the mixture beats both (docs/benchmarks.md; on the default
model it also beats the linear mixture w · p_rnn + (1 - w) · p_ngram by 0.01 bits/char). The result is a
distribution over the vocabulary, so bits/char stay comparable with any other model's.

How far to trust each part varies from character to character, with how much context the n-gram has counted
there and how sure it is. The gated mixture (charrnn.mixture: gated) lets both weights follow these two "signals"
of the n-gram at each position:

    a = a0 + a_depth · depth + a_entropy · entropy,   b = b0 + b_depth · depth + b_entropy · entropy

depth: the length of the longest context before the position that the n-gram's text has, over order - 1 (0 to 1);
entropy: the entropy of the n-gram's distribution there (nats). Still log-linear in its six weights, so fitted
the same way; with the four gate weights 0 it is the product above.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional, TypeVar

import numpy as np
import torch

# Validation targets the weights are fitted on, at most (the first ones): two weights need far fewer, and the fit
# holds a few float64 [targets, V] arrays (≈ 3 KB per target at V = 75).
FIT_TARGETS = 100_000
_NEWTON_STEPS = 50
Scores = TypeVar("Scores", torch.Tensor, np.ndarray)
# The gated mixture's (gate weights (a_depth, a_entropy, b_depth, b_entropy), signals [..., 2]); None: not gated.
GateWeights = tuple[float, float, float, float]  # a_depth, a_entropy, b_depth, b_entropy
NO_GATES: GateWeights = (0.0, 0.0, 0.0, 0.0)  # the plain product
Gates = Optional[tuple[GateWeights, Scores]]


def mixture_scores(rnn_log_probs: Scores, ngram_log_probs: Scores, rnn_weight: float, ngram_weight: float,
                   gates: Gates = None) -> Scores:
    """a · log p_rnn + b · log p_ngram: the mixture's log-probabilities up to their normaliser (log_softmax), for
    torch tensors (CharRNN.log_probs) and numpy arrays (the weights' fit) alike: elementwise float64, the same bits
    from either. gates: (the gate weights (a_depth, a_entropy, b_depth, b_entropy), the signals [..., 2] of each
    position (gate_signals)), or None: a and b are the same at every position."""
    if gates is None:
        return rnn_weight * rnn_log_probs + ngram_weight * ngram_log_probs
    (rnn_depth, rnn_entropy, ngram_depth, ngram_entropy), signals = gates
    depth, entropy = signals[..., 0], signals[..., 1]
    a = rnn_weight + rnn_depth * depth + rnn_entropy * entropy
    b = ngram_weight + ngram_depth * depth + ngram_entropy * entropy
    return a[..., None] * rnn_log_probs + b[..., None] * ngram_log_probs


def gate_signals(ngram_distributions: np.ndarray, depths: np.ndarray, order: int) -> np.ndarray:
    """[n, 2] float64: each position's depth (its longest known context's length over order - 1; 0 for order 1)
    and the entropy (nats) of the n-gram's distribution there (distributions [n, V] and depths [n] as
    KneserNey.distributions_and_depths gives them)."""
    distributions = np.asarray(ngram_distributions, dtype=np.float64)
    depth = np.asarray(depths, dtype=np.float64) / max(order - 1, 1)
    entropy = -(distributions * np.log(distributions)).sum(axis=-1)
    return np.stack([depth, entropy], axis=-1)


def mixed_log_probs(logits: torch.Tensor, ngram_distributions: np.ndarray, rnn_weight: float,
                    ngram_weight: float, gates: Gates = None) -> torch.Tensor:
    """log p of the mixture over the vocabulary, float64 [..., V], from the RNN's logits [..., V] and the n-gram's
    distributions [..., V] at the same positions: what CharRNN.log_probs gives (gates as in mixture_scores, the
    signals a numpy array)."""
    if gates is not None:
        gates = (gates[0], torch.from_numpy(np.asarray(gates[1], dtype=np.float64)))
    scores = mixture_scores(torch.log_softmax(logits.double(), dim=-1),
                            torch.log(torch.from_numpy(np.asarray(ngram_distributions, dtype=np.float64))),
                            rnn_weight, ngram_weight, gates)
    return torch.log_softmax(scores, dim=-1)


class MixtureFit(NamedTuple):
    rnn_weight: float
    ngram_weight: float
    loss: float  # the mixture's mean cross-entropy (nats) on the targets it was fitted on
    gate_weights: GateWeights = NO_GATES


def fit_weights(rnn_log_probs: np.ndarray, ngram_log_probs: np.ndarray, targets: np.ndarray,
                signals: Optional[np.ndarray] = None) -> MixtureFit:
    """The weights (a, b) that minimise the mean cross-entropy of softmax(a · rnn_log_probs + b · ngram_log_probs)
    on `targets`: [n, V], [n, V], [n]; with the positions' signals [n, 2] (gate_signals), the six weights of the
    gated mixture.

    The loss is convex in the weights (a log-linear model), so Newton's method from (1, 0), the RNN alone, finds
    the minimum in a few steps (_fit_log_linear). The scores are mixture_scores, as in prediction; the loss is the
    validation figure the training report gives."""
    rnn, ngram = np.asarray(rnn_log_probs, dtype=np.float64), np.asarray(ngram_log_probs, dtype=np.float64)
    if signals is None:
        weights, loss, _ = _fit_log_linear([rnn, ngram], targets, np.array([1.0, 0.0]),
                                           lambda w: mixture_scores(rnn, ngram, w[0], w[1]))
        return MixtureFit(float(weights[0]), float(weights[1]), loss)
    signals = np.asarray(signals, dtype=np.float64)
    depth, entropy = signals[:, :1], signals[:, 1:]
    # The scores are linear in the weights (a0, b0, a_depth, a_entropy, b_depth, b_entropy) with these features.
    features = [rnn, ngram, rnn * depth, rnn * entropy, ngram * depth, ngram * entropy]
    weights, loss, _ = _fit_log_linear(features, targets, np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
                                       lambda w: mixture_scores(rnn, ngram, w[0], w[1], (tuple(w[2:]), signals)))
    gate_weights = tuple(float(w) for w in weights[2:])
    return MixtureFit(float(weights[0]), float(weights[1]), loss, gate_weights)  # type: ignore[arg-type]


def _fit_log_linear(features: list[np.ndarray], targets: np.ndarray, start: np.ndarray,
                    scores_of: Callable[[np.ndarray], np.ndarray],
                    feasible: Callable[[np.ndarray], bool] = lambda weights: True) -> tuple[np.ndarray, float, float]:
    """The weights w that minimise the mean cross-entropy of softmax(scores_of(w)) on `targets`, where scores_of(w)
    is sum_i w_i · features[i] (features [n, V] each, targets [n]) as prediction computes it; and that loss and the
    loss at `start`.

    The loss of a log-linear model is convex in w: Newton's method from `start`, halving a step until the loss
    drops (and the weights stay `feasible`), stops when the Newton decrement is nil. Its gradient is E_p[f] - E_data[f]
    and its Hessian the mean covariance of f under p. Elementwise float64 numpy and k × k solves, so the result does
    not depend on the machine's thread count; the normaliser is computed here in numpy beside the derivatives."""
    f = [np.asarray(values) for values in features]
    y = np.asarray(targets, dtype=np.int64)
    if not all(np.all(np.isfinite(values)) for values in f):
        raise ValueError("log-probabilities must be finite (every probability > 0)")
    f = [values.astype(np.float64, copy=False) for values in f]  # read only: float64 input is not copied
    rows = np.arange(y.size)
    observed = np.array([values[rows, y].mean() for values in f])  # E_data[f]

    def loss_and_derivatives(weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        scores = scores_of(weights)
        top = scores.max(axis=1, keepdims=True)
        probs = np.exp(scores - top)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        loss = float(np.mean(np.log(total[:, 0]) + top[:, 0] - scores[rows, y]))
        expected = [(probs * values).sum(axis=1) for values in f]  # E_p[f] per target
        hessian = np.array([[np.mean((probs * f[i] * f[j]).sum(axis=1) - expected[i] * expected[j])
                             for j in range(len(f))] for i in range(len(f))])
        return loss, np.array([e.mean() for e in expected]) - observed, hessian

    weights = start
    loss, gradient, hessian = loss_and_derivatives(weights)
    start_loss = loss
    for _ in range(_NEWTON_STEPS):
        step = np.linalg.solve(hessian + 1e-12 * np.eye(len(f)), -gradient)
        if not np.all(np.isfinite(step)) or float(-gradient @ step) < 1e-14:
            break  # converged (or a flat direction): the Newton decrement is nil
        for _ in range(40):
            candidate = weights + step
            if feasible(candidate):
                new_loss, new_gradient, new_hessian = loss_and_derivatives(candidate)
                if new_loss <= loss:
                    break
            step = step / 2
        else:
            break
        weights, loss, gradient, hessian = candidate, new_loss, new_gradient, new_hessian
    return weights, loss, start_loss


class TemperatureFit(NamedTuple):
    temperature: float
    loss: float      # mean cross-entropy (nats) of softmax(log_probs / temperature) on the targets
    raw_loss: float  # the same at temperature 1: the RNN as trained


def fit_temperature(log_probs: np.ndarray, targets: np.ndarray) -> TemperatureFit:
    """The temperature T that minimises the mean cross-entropy of softmax(log_probs / T) on `targets` ([n, V], [n]):
    temperature scaling of the RNN part, fitted like the mixture's weights on validation characters after training.

    A net trained with dropout and evaluated without it is over-confident on text it has not seen (T > 1 softens
    it); T changes no argmax. The loss is convex in 1/T (the one-feature log-linear model), so Newton's method from
    1/T = 1, keeping 1/T > 0, finds the minimum in a few steps (_fit_log_linear)."""
    scaled = np.asarray(log_probs, dtype=np.float64)
    inverse, loss, raw_loss = _fit_log_linear([scaled], targets, np.array([1.0]), lambda w: w[0] * scaled,
                                              feasible=lambda weights: bool(weights[0] > 0))
    return TemperatureFit(1.0 / float(inverse[0]), loss, raw_loss)

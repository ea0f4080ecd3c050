"""Character n-gram language-model baselines: held-out bits/char to compare a char-RNN against.

Two baselines are provided.

* ``unigram_bits_per_char``: add-one (Laplace) smoothed symbol frequencies, ``p(w) = (c(w) + 1) / (N + V)``.
* ``KneserNey`` / ``kneser_ney_bits_per_char``: interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998,
  "An empirical study of smoothing techniques for language modeling", section 3.5).

Interpolated modified Kneser-Ney, for a context ``h`` of length ``k - 1`` ("level" ``k``) and its shortened
context ``h'`` (``h`` without its oldest symbol)::

    p_k(w | h) = max(c_k(hw) - D_k(c_k(hw)), 0) / c_k(h)  +  gamma_k(h) * p_{k-1}(w | h')
    gamma_k(h) = (D_k1 * N1(h.) + D_k2 * N2(h.) + D_k3+ * N3+(h.)) / c_k(h)
    p_0(w)     = 1 / V

* ``c_k`` are raw counts at the model's highest level (``k == order``) and *continuation counts* at lower levels:
  ``c_k(hw)`` = number of distinct symbols ``v`` such that ``vhw`` occurs in the training data. A lower-order
  distribution is only consulted as a back-off, so it should reflect in how many contexts an n-gram appears,
  not how often.
* ``c_k(h) = sum_w c_k(hw)``; ``N1(h.)``, ``N2(h.)``, ``N3+(h.)`` count the distinct followers of ``h`` whose
  ``c_k`` is 1, 2, and 3 or more. ``gamma_k(h)`` is exactly the mass the discounts removed, so every
  ``p_k(. | h)`` sums to 1.
* Three discounts per level, from that level's count-of-counts ``n_r`` (how many n-grams have ``c_k == r``)::

      Y = n1 / (n1 + 2 n2),  D1 = 1 - 2 Y n2 / n1,  D2 = 2 - 3 Y n3 / n2,  D3+ = 3 - 4 Y n4 / n3

* A context never seen in training (``c_k(h) == 0``) backs off entirely: ``p_k(w | h) = p_{k-1}(w | h')``.
* Contexts shorter than ``order - 1`` (the start of a stream) start the recursion at level ``len(h) + 1``.

Two guards keep the model well defined on small or degenerate corpora, where Chen & Goodman's estimates do not
exist or leave no mass for unseen symbols: when ``n1``, ``n2`` or ``n3`` is 0 the three discounts fall back to
one absolute discount ``Y`` (0.5 when Y is undefined), and every discount is clipped to
``[MIN_DISCOUNT, r]`` for count class ``r`` (1, 2, 3). The lower bound keeps every ``gamma`` positive, hence
every symbol's probability > 0; the upper bound means a discount never exceeds the count it applies to.

Implementation: n-grams are encoded as int64 numbers in base ``V`` (oldest symbol most significant), counted
with ``numpy.unique`` and looked up with ``numpy.searchsorted``, so fitting and scoring are vectorised over the
whole corpus and over all scored positions (one pass per level).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

MIN_DISCOUNT = 0.05
_INT64_LIMIT = 2**63 - 1


def _as_symbols(sequence: Sequence[int], name: str, vocab_size: int) -> np.ndarray:
    """Validate a symbol sequence and return it as a 1-D int64 array."""
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ints, got an array of shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must contain ints, got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} contains symbol {bad}, outside [0, {vocab_size}) (vocab_size={vocab_size})")
    return array.astype(np.int64)


def _check_vocab_size(vocab_size: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an int >= 1, got {vocab_size!r}")


def _modified_discounts(n1: int, n2: int, n3: int, n4: int) -> tuple[float, float, float]:
    """Chen & Goodman's (D1, D2, D3+) from count-of-counts n1..n4, with the guards described in the module doc."""
    if n1 > 0 and n2 > 0 and n3 > 0:
        y = n1 / (n1 + 2 * n2)
        raw = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    else:
        # Too few distinct counts to estimate three discounts: one absolute discount (original Kneser-Ney).
        y = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else 0.5
        raw = (y, y, y)
    return tuple(min(max(discount, MIN_DISCOUNT), float(count_class))
                 for count_class, discount in enumerate(raw, start=1))  # type: ignore[return-value]


def _ngram_codes(symbols: np.ndarray, length: int, vocab_size: int) -> np.ndarray:
    """Base-V code of every window of `length` consecutive symbols (oldest symbol most significant)."""
    window_count = symbols.size - length + 1
    if window_count <= 0:
        return np.empty(0, dtype=np.int64)
    codes = np.zeros(window_count, dtype=np.int64)
    for offset in range(length):
        codes = codes * vocab_size + symbols[offset:offset + window_count]
    return codes


@dataclass(frozen=True)
class _LevelTable:
    """Counts of one level (n-gram length), sorted by code, and per-context aggregates."""

    ngram_codes: np.ndarray        # sorted unique n-gram codes
    ngram_counts: np.ndarray       # raw counts (top level) or continuation counts (lower levels), float64
    discounts: tuple[float, float, float]
    context_codes: np.ndarray      # sorted unique context codes (n-gram code // V)
    context_totals: np.ndarray     # c_k(h)
    context_discount_mass: np.ndarray  # D1*N1(h.) + D2*N2(h.) + D3+*N3+(h.)

    def discount_of(self, counts: np.ndarray) -> np.ndarray:
        by_count_class = np.array((0.0,) + self.discounts)
        return by_count_class[np.minimum(counts, 3).astype(np.int64)]


def _lookup(sorted_codes: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query in `sorted_codes` and whether it is there (index is clipped to a valid slot)."""
    if sorted_codes.size == 0:
        return np.zeros(queries.size, dtype=np.int64), np.zeros(queries.size, dtype=bool)
    index = np.minimum(np.searchsorted(sorted_codes, queries), sorted_codes.size - 1)
    return index, sorted_codes[index] == queries


class KneserNey:
    """Interpolated modified Kneser-Ney character model of a given order, fitted on `train` at construction."""

    def __init__(self, train: Sequence[int], order: int, vocab_size: int):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        _check_vocab_size(vocab_size)
        if vocab_size ** order > _INT64_LIMIT:
            raise ValueError(f"vocab_size**order = {vocab_size}**{order} is too large to encode n-grams in int64")
        symbols = _as_symbols(train, "train", vocab_size)
        if symbols.size == 0:
            raise ValueError("train is empty: need at least one symbol to estimate a model")
        self.order = int(order)
        self.vocab_size = int(vocab_size)
        self._levels = self._fit(symbols)

    def _fit(self, symbols: np.ndarray) -> list[_LevelTable]:
        levels: list[_LevelTable | None] = [None] * self.order
        # Top level: raw counts. Each lower level k: continuation counts, i.e. for every k-gram the number of
        # distinct (k+1)-grams it ends, read off the unique codes of the level above.
        codes, counts = np.unique(_ngram_codes(symbols, self.order, self.vocab_size), return_counts=True)
        for length in range(self.order, 0, -1):
            levels[length - 1] = self._level_table(codes, counts)
            if length > 1:
                suffix_codes = codes % (self.vocab_size ** (length - 1))
                codes, counts = np.unique(suffix_codes, return_counts=True)
        return levels  # type: ignore[return-value]

    def _level_table(self, codes: np.ndarray, counts: np.ndarray) -> _LevelTable:
        counts = counts.astype(np.float64)
        count_of_counts = [int(np.count_nonzero(counts == r)) for r in (1, 2, 3, 4)]
        discounts = _modified_discounts(*count_of_counts)
        table = _LevelTable(codes, counts, discounts, np.empty(0, np.int64), np.empty(0), np.empty(0))
        if codes.size == 0:
            return table
        # Codes are sorted, so n-grams sharing a context are contiguous: aggregate each run.
        context_of_ngram = codes // self.vocab_size
        context_codes, run_starts = np.unique(context_of_ngram, return_index=True)
        return _LevelTable(
            ngram_codes=codes,
            ngram_counts=counts,
            discounts=discounts,
            context_codes=context_codes,
            context_totals=np.add.reduceat(counts, run_starts),
            context_discount_mass=np.add.reduceat(table.discount_of(counts), run_starts),
        )

    def _probabilities(self, sequence: np.ndarray, positions: np.ndarray, symbols: np.ndarray,
                       depths: Optional[np.ndarray] = None) -> np.ndarray:
        """p(symbols[i] | the up-to order-1 symbols of `sequence` before positions[i]), for every i; with `depths`
        (int64, like positions), also writes there the length of the longest context the training text has."""
        context_lengths = np.minimum(positions, self.order - 1)
        # Left-pad so every context window can be read without bounds checks; padded slots belong to contexts
        # too short for that level and are masked out below.
        padding = self.order - 1
        padded = np.concatenate([np.zeros(padding, dtype=np.int64), sequence])
        padded_positions = positions + padding
        probabilities = np.full(positions.size, 1.0 / self.vocab_size)
        context_codes = np.zeros(positions.size, dtype=np.int64)  # code of the empty context
        for length in range(1, self.order + 1):
            if length > 1:
                # Grow the context by one older symbol: it becomes the most significant digit.
                context_codes = context_codes + padded[padded_positions - (length - 1)] * (
                    self.vocab_size ** (length - 2))
            table = self._levels[length - 1]
            active = np.flatnonzero(context_lengths >= length - 1)
            context_index, context_seen = _lookup(table.context_codes, context_codes[active])
            active, context_index = active[context_seen], context_index[context_seen]
            if active.size == 0:
                continue  # every context unseen at this level: keep the lower-order estimate
            if depths is not None:
                depths[active] = length - 1
            ngram_index, ngram_seen = _lookup(table.ngram_codes,
                                              context_codes[active] * self.vocab_size + symbols[active])
            counts = np.where(ngram_seen, table.ngram_counts[ngram_index], 0.0)
            discounted = counts - table.discount_of(counts)
            probabilities[active] = (discounted + table.context_discount_mass[context_index]
                                     * probabilities[active]) / table.context_totals[context_index]
        return probabilities

    def _context_array(self, context: Sequence[int]) -> np.ndarray:
        context_symbols = _as_symbols(context, "context", self.vocab_size)
        return context_symbols[max(0, context_symbols.size - (self.order - 1)):]

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(. | context) over the whole vocabulary: length vocab_size, sums to 1."""
        context_symbols = self._context_array(context)
        positions = np.full(self.vocab_size, context_symbols.size)
        return self._probabilities(context_symbols, positions, np.arange(self.vocab_size, dtype=np.int64))

    def target_probabilities(self, stream: Sequence[int], start: int = 0) -> np.ndarray:
        """p(stream[t] | stream[max(0, t-order+1):t]) for every t in range(start, len(stream)), float64."""
        symbols = _as_symbols(stream, "stream", self.vocab_size)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < symbols.size:
            raise ValueError(f"start must be an int in [0, len(stream)) = [0, {symbols.size}), got {start!r}")
        positions = np.arange(start, symbols.size)
        return self._probabilities(symbols, positions, symbols[positions])

    def distributions(self, stream: Sequence[int], positions: Sequence[int]) -> np.ndarray:
        """[len(positions), vocab_size]: row i is p(. | the up-to order-1 symbols of `stream` before positions[i])
        (a position may be len(stream): the distribution of the symbol after the stream)."""
        return self._distributions(stream, positions, with_depths=False)[0]

    def distributions_and_depths(self, stream: Sequence[int], positions: Sequence[int]
                                 ) -> tuple[np.ndarray, np.ndarray]:
        """distributions(stream, positions), and for each position the length of the longest context before it
        that the training text has (0 to order - 1, int64): how much context the n-gram's estimate there rests on."""
        distributions, depths = self._distributions(stream, positions, with_depths=True)
        assert depths is not None
        return distributions, depths

    def _distributions(self, stream: Sequence[int], positions: Sequence[int], with_depths: bool
                       ) -> tuple[np.ndarray, Optional[np.ndarray]]:
        symbols = _as_symbols(stream, "stream", self.vocab_size)
        where = np.asarray(positions, dtype=np.int64)
        if where.size and (where.min() < 0 or where.max() > symbols.size):
            raise ValueError(f"positions must lie in [0, len(stream)] = [0, {symbols.size}]")
        every = np.arange(self.vocab_size, dtype=np.int64)
        # Every row's vocab_size entries share their context, so a row's depth is its first entry's.
        depths = np.zeros(where.size * self.vocab_size, dtype=np.int64) if with_depths else None
        probabilities = self._probabilities(symbols, np.repeat(where, self.vocab_size), np.tile(every, where.size),
                                            depths)
        rows = probabilities.reshape(where.size, self.vocab_size)
        return rows, None if depths is None else depths.reshape(where.size, self.vocab_size)[:, 0].copy()

    def bits_per_char(self, stream: Sequence[int], start: int = 0) -> float:
        """Mean -log2 p(stream[t] | stream[max(0, t-order+1):t]) over t in range(start, len(stream))."""
        return float(-np.mean(np.log2(self.target_probabilities(stream, start))))


def unigram_bits_per_char(train: Sequence[int], targets: Sequence[int], vocab_size: int) -> float:
    """Add-one smoothed unigram estimated on train; mean -log2 p over targets."""
    _check_vocab_size(vocab_size)
    train_symbols = _as_symbols(train, "train", vocab_size)
    target_symbols = _as_symbols(targets, "targets", vocab_size)
    if train_symbols.size == 0:
        raise ValueError("train is empty: need at least one symbol to estimate a model")
    if target_symbols.size == 0:
        raise ValueError("targets is empty: nothing to score")
    counts = np.bincount(train_symbols, minlength=vocab_size).astype(np.float64)
    probabilities = (counts + 1.0) / (train_symbols.size + vocab_size)
    return float(-np.mean(np.log2(probabilities[target_symbols])))


def kneser_ney_bits_per_char(train: Sequence[int], stream: Sequence[int], start: int, order: int,
                             vocab_size: int) -> float:
    """Interpolated modified Kneser-Ney (Chen & Goodman 1998: three discounts D1, D2, D3+ per order, estimated from
    count-of-counts n1..n4 of that order, continuation counts for lower orders, recursion ending in the uniform
    distribution 1/vocab_size) estimated on `train`; returns the mean -log2 p(stream[t] | stream[max(0, t-order+1):t])
    over t in range(start, len(stream))."""
    return KneserNey(train, order, vocab_size).bits_per_char(stream, start)

"""Tests for the character n-gram baselines (rnnpipe.charrnn.ngram)."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from rnnpipe.charrnn.ngram import (
    MIN_DISCOUNT,
    KneserNey,
    _modified_discounts,
    kneser_ney_bits_per_char,
    unigram_bits_per_char,
)


def prob(model: KneserNey, context: list[int], symbol: int) -> float:
    """p(symbol | context): one entry of the model's distribution after `context`."""
    return float(model.distribution(context)[symbol])


def encode(text: str) -> tuple[list[int], int]:
    alphabet = sorted(set(text))
    index = {ch: i for i, ch in enumerate(alphabet)}
    return [index[ch] for ch in text], len(alphabet)


def sample_order2_markov(transitions: np.ndarray, length: int, seed: int) -> np.ndarray:
    """Sample from p(x_t | x_{t-2}, x_{t-1}) = transitions[x_{t-2}, x_{t-1}, x_t]."""
    rng = np.random.default_rng(seed)
    vocab_size = transitions.shape[0]
    cumulative = transitions.cumsum(axis=-1)
    uniforms = rng.random(length)
    sample = np.zeros(length, dtype=np.int64)
    for t in range(2, length):
        row = cumulative[sample[t - 2], sample[t - 1]]
        sample[t] = min(int(np.searchsorted(row, uniforms[t])), vocab_size - 1)
    return sample


def entropy_rate_bits(transitions: np.ndarray) -> float:
    """Entropy rate of an order-2 chain: stationary distribution over (previous, current) pairs, then
    the expected entropy of the next-symbol distribution."""
    vocab_size = transitions.shape[0]
    pair_transition = np.zeros((vocab_size * vocab_size, vocab_size * vocab_size))
    for a in range(vocab_size):
        for b in range(vocab_size):
            for c in range(vocab_size):
                pair_transition[a * vocab_size + b, b * vocab_size + c] = transitions[a, b, c]
    stationary = np.full(vocab_size * vocab_size, 1.0 / vocab_size**2)
    for _ in range(2000):
        stationary = stationary @ pair_transition
    row_entropies = -(transitions * np.log2(transitions)).sum(axis=-1).reshape(-1)
    return float(stationary @ row_entropies)


def reference_kneser_ney_prob(train: list[int], order: int, vocab_size: int, context: list[int],
                              symbol: int) -> float:
    """Straightforward dict-based interpolated modified Kneser-Ney, written from the definitions, to check the
    vectorised implementation against."""
    train = list(train)
    level_counts: dict[int, Counter] = {}
    level_counts[order] = Counter(tuple(train[i:i + order]) for i in range(len(train) - order + 1))
    for length in range(order - 1, 0, -1):
        distinct_longer = set(level_counts[length + 1])
        level_counts[length] = Counter(ngram[1:] for ngram in distinct_longer)
    level_discounts = {
        length: _modified_discounts(*(sum(1 for c in counts.values() if c == r) for r in (1, 2, 3, 4)))
        for length, counts in level_counts.items()
    }

    def discount(length: int, count: int) -> float:
        return 0.0 if count == 0 else level_discounts[length][min(count, 3) - 1]

    def prob(history: tuple[int, ...]) -> float:
        if history is None:
            return 1.0 / vocab_size
        length = len(history) + 1
        lower = prob(history[1:] if history else None)
        counts = level_counts[length]
        followers = {ngram[-1]: c for ngram, c in counts.items() if ngram[:-1] == history}
        total = sum(followers.values())
        if total == 0:
            return lower
        mass = sum(discount(length, c) for c in followers.values())
        count = followers.get(symbol, 0)
        return (count - discount(length, count) + mass * lower) / total

    history = tuple(context[len(context) - min(len(context), order - 1):])
    return prob(history)


# --- discounts ---------------------------------------------------------------------------------------------

def test_modified_discounts_match_chen_goodman_by_hand():
    # n1=10, n2=4, n3=3, n4=2: Y = 10/18 = 5/9
    # D1 = 1 - 2*(5/9)*4/10 = 5/9, D2 = 2 - 3*(5/9)*3/4 = 3/4, D3+ = 3 - 4*(5/9)*2/3 = 41/27
    d1, d2, d3 = _modified_discounts(10, 4, 3, 2)
    assert d1 == pytest.approx(5 / 9)
    assert d2 == pytest.approx(3 / 4)
    assert d3 == pytest.approx(41 / 27)


def test_modified_discounts_are_guarded_on_degenerate_counts():
    # No count-of-counts at all: plain absolute discount 0.5.
    assert _modified_discounts(0, 0, 0, 0) == (0.5, 0.5, 0.5)
    # n3 = 0: one discount Y = n1 / (n1 + 2 n2) = 2/4.
    assert _modified_discounts(2, 1, 0, 0) == pytest.approx((0.5, 0.5, 0.5))
    # A negative raw D2 (n3 >> n2) is clipped up; a raw D3+ of 3 (n4 = 0) stays within [MIN_DISCOUNT, 3].
    d1, d2, d3 = _modified_discounts(1, 1, 50, 0)
    assert d2 == MIN_DISCOUNT and d3 == pytest.approx(3.0) and 0 < d1 <= 1


def test_order1_probabilities_hand_computed():
    # Counts: 0 x1, 1 x1, 2 x2, 3 x3, 4 x4, symbol 5 unseen; V = 6, N = 11.
    # n1=2, n2=1, n3=1, n4=1 -> Y = 1/2, D1 = 1/2, D2 = 1/2, D3+ = 1.
    # Removed mass = 0.5 + 0.5 + 0.5 + 1 + 1 = 3.5, spread uniformly: 3.5/11 * 1/6.
    train = [0, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4]
    model = KneserNey(train, order=1, vocab_size=6)
    back_off = 3.5 / 11 / 6
    expected = [0.5 / 11 + back_off, 0.5 / 11 + back_off, 1.5 / 11 + back_off, 2 / 11 + back_off,
                3 / 11 + back_off, back_off]
    assert model.distribution([]) == pytest.approx(expected, abs=1e-12)
    assert prob(model, [], 5) == pytest.approx(back_off, abs=1e-12)
    assert prob(model, [1, 2, 3], 4) == pytest.approx(expected[4], abs=1e-12)  # context ignored at order 1


def test_order2_uses_continuation_counts_hand_computed():
    # train "abab c": bigrams ab x2, ba x1, bc x1. Unigram continuation counts: b<-{a} = 1, a<-{b} = 1,
    # c<-{b} = 1, total 3; n1 = 3 only -> fallback discount 0.5 at both levels (n2 = n3 = 0).
    a, b, c = 0, 1, 2
    model = KneserNey([a, b, a, b, c], order=2, vocab_size=4)
    uniform = 1 / 4
    unigram_a = (1 - 0.5 + 3 * 0.5 * uniform) / 3  # same for b and c
    unigram_d = 3 * 0.5 * uniform / 3
    # Context b: followers a (1), c (1); total 2, removed mass 1.0.
    assert prob(model, [b], a) == pytest.approx((1 - 0.5 + 1.0 * unigram_a) / 2, abs=1e-12)
    assert prob(model, [b], b) == pytest.approx(1.0 * unigram_a / 2, abs=1e-12)
    assert prob(model, [b], 3) == pytest.approx(1.0 * unigram_d / 2, abs=1e-12)
    # Context c was never followed by anything: back off to the unigram level entirely.
    assert prob(model, [c], a) == pytest.approx(unigram_a, abs=1e-12)
    assert prob(model, [], 3) == pytest.approx(unigram_d, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_dict_based_reference(order):
    rng = np.random.default_rng(order)
    vocab_size = 5
    # Skewed random text so count-of-counts n1..n4 are all populated at several levels.
    train = rng.choice(vocab_size - 1, size=300, p=[0.5, 0.25, 0.15, 0.1]).tolist()
    model = KneserNey(train, order, vocab_size)
    contexts = [[], [0], [3, 3], [0, 1, 0], [1, 2, 3, 0, 1], [4], [4, 4, 4]] + [
        rng.integers(vocab_size, size=order - 1).tolist() for _ in range(5)]
    for context in contexts:
        expected = [reference_kneser_ney_prob(train, order, vocab_size, context, s) for s in range(vocab_size)]
        assert model.distribution(context) == pytest.approx(expected, abs=1e-12)
        assert prob(model, context, 2) == pytest.approx(expected[2], abs=1e-12)


# --- normalisation and positivity ---------------------------------------------------------------------------

@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distribution_sums_to_one_and_is_positive(order):
    text = "the cat sat on the mat; the dog sat on the log. " * 4 + "zebra quiz!"
    train, vocab_size = encode(text)
    vocab_size += 2  # two symbols that never occur in training
    model = KneserNey(train, order, vocab_size)
    seen_context = train[10:10 + order - 1]
    unseen_context = [vocab_size - 1] * (order - 1)
    mixed_context = train[:3] + [vocab_size - 2]
    for context in ([], [train[0]], seen_context, unseen_context, mixed_context, train[:40]):
        distribution = model.distribution(context)
        assert distribution.shape == (vocab_size,)
        assert abs(distribution.sum() - 1.0) < 1e-9
        assert (distribution > 0).all()
        assert prob(model, context, vocab_size - 1) == pytest.approx(distribution[-1], abs=1e-15)


def test_positive_on_degenerate_corpus():
    model = KneserNey([0] * 50, order=3, vocab_size=3)
    for context in ([], [0], [0, 0], [1, 2]):
        distribution = model.distribution(context)
        assert abs(distribution.sum() - 1.0) < 1e-9 and (distribution > 0).all()
    # A train shorter than the order still gives a proper distribution.
    short = KneserNey([1], order=4, vocab_size=3)
    assert short.distribution([1, 1, 1]) == pytest.approx([1 / 3] * 3)


# --- agreement with simpler models and with the truth -------------------------------------------------------

def test_order1_close_to_add_one_unigram():
    rng = np.random.default_rng(0)
    vocab_size = 20
    train = rng.choice(vocab_size, size=20_000, p=rng.dirichlet(np.ones(vocab_size)))
    targets = rng.choice(train, size=5_000)
    kn = kneser_ney_bits_per_char(train, targets, 0, 1, vocab_size)
    add_one = unigram_bits_per_char(train, targets, vocab_size)
    assert abs(kn - add_one) < 0.01


def test_unigram_bits_per_char_by_hand():
    # counts: 0 x3, 1 x1, 2 x0; p = (c + 1) / (4 + 3) -> p(0) = 4/7, p(2) = 1/7.
    bits = unigram_bits_per_char([0, 0, 0, 1], [0, 2], vocab_size=3)
    assert bits == pytest.approx(-(math.log2(4 / 7) + math.log2(1 / 7)) / 2)


def test_order3_recovers_entropy_rate_of_order2_markov_chain():
    vocab_size = 4
    transitions = np.random.default_rng(42).dirichlet(np.full(vocab_size, 0.5), size=(vocab_size, vocab_size))
    sample = sample_order2_markov(transitions, 150_000, seed=7)
    train, held_out = sample[:120_000], sample[120_000:]
    true_rate = entropy_rate_bits(transitions)
    kn = kneser_ney_bits_per_char(train, held_out, 2, 3, vocab_size)
    unigram = unigram_bits_per_char(train, held_out[2:], vocab_size)
    assert abs(kn - true_rate) < 0.05, (kn, true_rate)
    assert kn < unigram - 0.1, (kn, unigram)


def test_ngram_beats_unigram_on_repetitive_text():
    text = "the quick brown fox jumps over the lazy dog. " * 60
    symbols, vocab_size = encode(text)
    train, stream = symbols[:2000], symbols[2000:]
    unigram = unigram_bits_per_char(train, stream, vocab_size)
    kn5 = kneser_ney_bits_per_char(train, stream, 0, 5, vocab_size)
    assert kn5 < 0.5 * unigram and kn5 < 1.0, (kn5, unigram)


def test_bits_per_char_matches_per_position_probabilities_including_stream_start():
    text = "abracadabra alakazam abracadabra"
    symbols, vocab_size = encode(text)
    model = KneserNey(symbols, 4, vocab_size)
    stream = symbols[:12]
    expected = np.mean([-math.log2(prob(model, stream[max(0, t - 3):t], stream[t])) for t in range(12)])
    assert kneser_ney_bits_per_char(symbols, stream, 0, 4, vocab_size) == pytest.approx(expected, abs=1e-12)
    expected_from_5 = np.mean([-math.log2(prob(model, stream[max(0, t - 3):t], stream[t])) for t in range(5, 12)])
    assert model.bits_per_char(stream, 5) == pytest.approx(expected_from_5, abs=1e-12)


# --- argument errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(train=[0, 1], stream=[0, 1], start=0, order=0, vocab_size=2), "order"),
        (dict(train=[0, 1], stream=[0, 1], start=0, order=2, vocab_size=0), "vocab_size"),
        (dict(train=[], stream=[0, 1], start=0, order=2, vocab_size=2), "train is empty"),
        (dict(train=[0, 1], stream=[0, 1], start=2, order=2, vocab_size=2), "start"),
        (dict(train=[0, 1], stream=[0, 1], start=-1, order=2, vocab_size=2), "start"),
        (dict(train=[0, 1], stream=[], start=0, order=2, vocab_size=2), "start"),
        (dict(train=[0, 2], stream=[0, 1], start=0, order=2, vocab_size=2), "train contains symbol 2"),
        (dict(train=[0, 1], stream=[0, -1], start=0, order=2, vocab_size=2), "stream contains symbol -1"),
        (dict(train=[0.5, 1.0], stream=[0, 1], start=0, order=2, vocab_size=2), "ints"),
    ],
)
def test_kneser_ney_bits_per_char_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kneser_ney_bits_per_char(**kwargs)


def test_model_and_unigram_reject_bad_arguments():
    model = KneserNey([0, 1, 2], order=2, vocab_size=3)
    with pytest.raises(ValueError, match="context contains symbol 3"):
        model.distribution([3])
    with pytest.raises(ValueError, match="train is empty"):
        unigram_bits_per_char([], [0], 3)
    with pytest.raises(ValueError, match="targets is empty"):
        unigram_bits_per_char([0], [], 3)
    with pytest.raises(ValueError, match="targets contains symbol 3"):
        unigram_bits_per_char([0], [3], 3)
    with pytest.raises(ValueError, match="vocab_size"):
        unigram_bits_per_char([0], [0], 0)


# --- the longest known context (the gated mixture's depth) ---------------------------------------------------

def test_depth_is_the_longest_context_the_training_text_has():
    # a=0 b=1 c=2 d=3; training "abcab": contexts seen before some symbol are "", a, b, c, ab, bc, ca.
    model = KneserNey([0, 1, 2, 0, 1], 3, 4)
    stream = [0, 1, 3, 1, 2, 0]
    distributions, depths = model.distributions_and_depths(stream, [0, 1, 2, 3, 5, 6])
    # before position 0: no context; 1: "a"; 2: "ab"; 3: "bd" (d unseen, so ""); 5: "bc"; 6: "ca"
    assert depths.tolist() == [0, 1, 2, 0, 2, 2]
    assert np.array_equal(distributions, model.distributions(stream, [0, 1, 2, 3, 5, 6]))
    assert np.array_equal(model.distributions_and_depths([3, 0], [2])[1], [1])  # "da": only "a" is known

"""Tests for the char model's n-gram part (rnnpipe.charrnn.mixture, CharRNN.attach_ngram and its users)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from rnnpipe.charrnn.corpus import build_vocab, encode
from rnnpipe.charrnn.evaluate import LOG2E, char_losses, held_out_metrics
from rnnpipe.charrnn.generate import generate_text
from rnnpipe.charrnn.mixture import fit_temperature, fit_weights, gate_signals, mixed_log_probs, mixture_scores
from rnnpipe.charrnn.model import CharRNNConfig, load_charrnn
from rnnpipe.charrnn.ngram import KneserNey, unigram_bits_per_char
from rnnpipe.charrnn.train import training_summary, train_charrnn
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.errors import CheckpointError
from tests.builders import charrnn_config, make_charrnn
from tests.charrnn.test_train import TEXT, charrnn_params, state_dicts_equal

torch.set_num_threads(1)

V = 6


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def mean_cross_entropy(rnn: np.ndarray, ngram: np.ndarray, y: np.ndarray, a: float, b: float) -> float:
    return float(-log_softmax(a * rnn + b * ngram)[np.arange(y.size), y].mean())


@pytest.fixture(scope="module")
def experts() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return log_softmax(rng.normal(0, 2, (20_000, V))), log_softmax(rng.normal(0, 2, (20_000, V)))


def draw(rnn: np.ndarray, ngram: np.ndarray, a: float, b: float, seed: int = 1) -> np.ndarray:
    probs = np.exp(log_softmax(a * rnn + b * ngram))
    u = np.random.default_rng(seed).random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def test_fit_weights_recovers_the_weights_the_targets_were_drawn_with(experts):
    rnn, ngram = experts
    y = draw(rnn, ngram, 0.6, 0.5)
    fit = fit_weights(rnn, ngram, y)
    assert fit.rnn_weight == pytest.approx(0.6, abs=0.04) and fit.ngram_weight == pytest.approx(0.5, abs=0.04)
    assert fit.loss == pytest.approx(mean_cross_entropy(rnn, ngram, y, fit.rnn_weight, fit.ngram_weight), abs=1e-12)


def test_fit_weights_is_a_minimum_of_the_loss(experts):
    rnn, ngram = experts
    y = draw(rnn, ngram, 1.2, -0.3, seed=2)
    fit = fit_weights(rnn, ngram, y)
    for da, db in ((0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)):
        assert fit.loss < mean_cross_entropy(rnn, ngram, y, fit.rnn_weight + da, fit.ngram_weight + db)
    assert fit.loss < mean_cross_entropy(rnn, ngram, y, 1.0, 0.0)  # never worse than the RNN alone


def test_fit_weights_leaves_an_uninformative_ngram_out(experts):
    rnn, _ = experts
    y = draw(rnn, rnn, 1.0, 0.0, seed=3)
    uniform = np.full_like(rnn, -np.log(V))
    fit = fit_weights(rnn, uniform, y)
    # A constant adds nothing after renormalising: whatever its weight, the fit is the RNN's own calibration.
    assert fit.loss == pytest.approx(mean_cross_entropy(rnn, uniform, y, fit.rnn_weight, 0.0), abs=1e-12)
    assert fit.rnn_weight == pytest.approx(1.0, abs=0.04)


def test_fit_weights_is_deterministic(experts):
    rnn, ngram = experts
    y = draw(rnn, ngram, 0.7, 0.4)
    assert fit_weights(rnn, ngram, y) == fit_weights(rnn.copy(), ngram.copy(), y.copy())


def test_fit_weights_refuses_log_probabilities_that_are_not_finite():
    with pytest.raises(ValueError, match="finite"):
        fit_weights(np.full((3, V), -np.inf), np.zeros((3, V)), np.zeros(3))


def test_mixed_log_probs_is_a_distribution_and_each_expert_at_its_corner():
    torch.manual_seed(0)
    logits = torch.randn(5, V) * 3
    ngram = np.exp(log_softmax(np.random.default_rng(0).normal(0, 1, (5, V))))
    mixed = mixed_log_probs(logits, ngram, 0.5, 0.7)
    torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(mixed_log_probs(logits, ngram, 1.0, 0.0), torch.log_softmax(logits.double(), -1))
    torch.testing.assert_close(mixed_log_probs(logits, ngram, 0.0, 1.0), torch.from_numpy(np.log(ngram)))


def test_the_mixture_scores_are_the_same_bits_from_torch_and_numpy(experts):
    rnn, ngram = experts
    from_numpy = mixture_scores(rnn, ngram, 0.6, 0.45)
    from_torch = mixture_scores(torch.from_numpy(rnn), torch.from_numpy(ngram), 0.6, 0.45)
    assert np.array_equal(from_numpy, from_torch.numpy())


# --- the gated mixture ------------------------------------------------------------------------------------------

def gated_cross_entropy(rnn, ngram, y, signals, weights) -> float:
    a = weights[0] + weights[2] * signals[:, :1] + weights[3] * signals[:, 1:]
    b = weights[1] + weights[4] * signals[:, :1] + weights[5] * signals[:, 1:]
    return float(-log_softmax(a * rnn + b * ngram)[np.arange(y.size), y].mean())


def draw_gated(rnn, ngram, signals, weights, seed: int = 4) -> np.ndarray:
    a = weights[0] + weights[2] * signals[:, :1] + weights[3] * signals[:, 1:]
    b = weights[1] + weights[4] * signals[:, :1] + weights[5] * signals[:, 1:]
    probs = np.exp(log_softmax(a * rnn + b * ngram))
    u = np.random.default_rng(seed).random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


@pytest.fixture(scope="module")
def signals(experts) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.stack([rng.integers(0, 4, experts[0].shape[0]) / 3, rng.uniform(0.2, 1.8, experts[0].shape[0])], 1)


def test_the_gated_fit_recovers_weights_that_follow_the_signals(experts, signals):
    rnn, ngram = experts
    truth = (0.3, 0.9, 0.6, 0.1, -0.6, -0.2)  # the n-gram trusted where its context is long, the RNN elsewhere
    y = draw_gated(rnn, ngram, signals, truth)
    fit = fit_weights(rnn, ngram, y, signals)
    got = (fit.rnn_weight, fit.ngram_weight, *fit.gate_weights)
    assert got == pytest.approx(truth, abs=0.1)
    assert fit.loss == pytest.approx(gated_cross_entropy(rnn, ngram, y, signals, got), abs=1e-12)
    assert fit.loss < fit_weights(rnn, ngram, y).loss  # the product cannot follow the signals
    for k in range(6):  # a minimum
        for step in (0.01, -0.01):
            moved = list(got)
            moved[k] += step
            assert fit.loss < gated_cross_entropy(rnn, ngram, y, signals, moved)


def test_gates_that_carry_nothing_leave_the_product(experts, signals):
    rnn, ngram = experts
    y = draw(rnn, ngram, 0.6, 0.5)
    product, gated = fit_weights(rnn, ngram, y), fit_weights(rnn, ngram, y, signals)
    assert gated.gate_weights == pytest.approx((0, 0, 0, 0), abs=0.06)
    assert product.loss - 1e-3 < gated.loss <= product.loss + 1e-12
    zero = ((0.0, 0.0, 0.0, 0.0), signals)  # gate weights 0: the product's bits
    assert np.array_equal(mixture_scores(rnn, ngram, 0.6, 0.45, zero), mixture_scores(rnn, ngram, 0.6, 0.45))


def test_the_gated_scores_are_the_same_bits_from_torch_and_numpy(experts, signals):
    rnn, ngram = experts
    gates = (0.4, 0.1, -0.3, -0.05)
    from_numpy = mixture_scores(rnn, ngram, 0.2, 0.8, (gates, signals))
    from_torch = mixture_scores(torch.from_numpy(rnn), torch.from_numpy(ngram), 0.2, 0.8,
                                (gates, torch.from_numpy(signals)))
    assert np.array_equal(from_numpy, from_torch.numpy())


def test_gate_signals_are_the_depth_over_the_longest_context_and_the_entropy():
    uniform, certain = np.full(4, 0.25), np.array([0.97, 0.01, 0.01, 0.01])
    signals = gate_signals(np.stack([uniform, certain]), np.array([0, 3]), order=4)
    assert signals[:, 0].tolist() == [0.0, 1.0]
    assert signals[0, 1] == pytest.approx(np.log(4)) and signals[1, 1] == pytest.approx(
        -(0.97 * np.log(0.97) + 3 * 0.01 * np.log(0.01)))
    assert gate_signals(np.stack([uniform]), np.array([0]), order=1)[0, 0] == 0.0


def test_a_gated_model_scores_with_the_signals_of_each_position(mixed_model, text_ids):
    ids, _ = text_ids
    model = copy.deepcopy(mixed_model)
    model.attach_ngram(model.ngram_text.long(), 4, 0.3, 0.6, (0.5, 0.05, -0.4, 0.1))
    stream, positions = ids[300:380], torch.arange(40, 81)
    with torch.no_grad():
        logits = model(stream.unsqueeze(0))[0][0, 39:]
    distributions, depths = model.ngram.distributions_and_depths(stream.numpy(), positions.numpy())
    expected = mixed_log_probs(logits, distributions, 0.3, 0.6,
                               ((0.5, 0.05, -0.4, 0.1), gate_signals(distributions, depths, 4)))
    got = model.log_probs(logits, stream, positions)
    assert torch.equal(got, expected)
    assert not torch.equal(got, mixed_log_probs(logits, distributions, 0.3, 0.6))
    torch.testing.assert_close(got.exp().sum(-1), torch.ones(len(positions), dtype=torch.float64))


@pytest.mark.parametrize("mixture", ["product", "gated"])
def test_train_charrnn_fits_the_mixture_it_is_asked_for(text_ids, mixture):
    ids, vocab = text_ids
    model, result = train_charrnn(ids[:430], ids[430:], vocab, charrnn_params(ngram_order=3, mixture=mixture),
                                  show_progress=False)
    gated = any(model.config.gate_weights)
    assert gated == (mixture == "gated")
    summary = training_summary(result, 430, len(vocab), model)
    assert (summary["rnn_depth_gate"], summary["rnn_entropy_gate"], summary["ngram_depth_gate"],
            summary["ngram_entropy_gate"]) == model.config.gate_weights


# --- the RNN part's temperature ------------------------------------------------------------------------------------

@pytest.mark.parametrize("true_temperature", [0.7, 1.0, 1.6])
def test_fit_temperature_finds_the_temperature_the_targets_were_drawn_at(experts, true_temperature):
    rnn, _ = experts
    rng = np.random.default_rng(1)
    probs = np.exp(log_softmax(rnn / true_temperature))
    y = (probs.cumsum(axis=1) > rng.random((len(probs), 1))).argmax(axis=1)
    fit = fit_temperature(rnn, y)
    assert fit.temperature == pytest.approx(true_temperature, rel=0.05)
    assert fit.raw_loss == pytest.approx(mean_cross_entropy(rnn, rnn, y, 1.0, 0.0))
    assert fit.loss == pytest.approx(mean_cross_entropy(rnn, rnn, y, 1 / fit.temperature, 0.0))
    for other in (0.9, 1.1):  # a minimum: either side is worse
        assert fit.loss < mean_cross_entropy(rnn, rnn, y, other / fit.temperature, 0.0)


def test_fit_temperature_refuses_infinite_log_probabilities(experts):
    rnn, _ = experts
    broken = rnn[:10].copy()
    broken[3, 2] = -np.inf
    with pytest.raises(ValueError, match="must be finite"):
        fit_temperature(broken, np.zeros(10, dtype=np.int64))


def test_the_rnn_alone_is_scored_at_its_temperature(mixed_model, text_ids, tmp_path):
    ids, _ = text_ids
    context, targets = ids[:200], ids[200:300]
    mixed_before, _ = char_losses(mixed_model, context, targets, "many_to_many", 10)
    mixed_model.set_temperature(2.0)
    save_model(tmp_path / "m.pt", mixed_model.config, mixed_model)
    config, model = load_charrnn(tmp_path / "m.pt")
    assert config.rnn_temperature == 2.0
    with torch.no_grad():
        logits = model(ids[:299].unsqueeze(0))[0][:, 199:]  # the state warmed up on the context, as char_losses
    alone, hits = char_losses(model, context, targets, "many_to_many", 10, with_ngram=False)
    expected = -torch.log_softmax(logits[0] / 2.0, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    torch.testing.assert_close(alone, expected)
    torch.testing.assert_close(hits, (logits[0].argmax(-1) == targets).float())
    mixed_after, _ = char_losses(model, context, targets, "many_to_many", 10)
    torch.testing.assert_close(mixed_after, mixed_before)  # the mixture reads the logits as trained
    model.attach_ngram(ids[:300], 4, 1.0, 0.0)  # n-gram weight 0 ... and without an n-gram part at all:
    pure = make_charrnn(vocab=model.config.vocab, hidden_size=10, cell="lstm", input="embedding", embedding_dim=4)
    pure.load_state_dict({k: v for k, v in model.state_dict().items() if k != "ngram_text"})
    pure.set_temperature(2.0)
    torch.testing.assert_close(pure.log_probs(logits[0], ids[:300], range(200, 300)),
                               torch.log_softmax(logits[0] / 2.0, dim=-1))


def test_calibrate_false_keeps_the_logits_as_trained(text_ids):
    ids, vocab = text_ids
    model, result = train_charrnn(ids[:430], ids[430:], vocab, charrnn_params(calibrate=False), show_progress=False)
    summary = training_summary(result, 430, len(vocab), model)
    assert model.config.rnn_temperature == summary["rnn_temperature"] == 1.0
    assert summary["rnn_val_bits_per_char"] == summary["raw_rnn_val_bits_per_char"]


# --- the n-gram part in the model, its checkpoint, evaluation and generation --------------------------------------

@pytest.fixture(scope="module")
def text_ids() -> tuple[torch.Tensor, list[str]]:
    vocab = build_vocab(TEXT)
    return encode(TEXT, vocab), vocab


@pytest.fixture()
def mixed_model(text_ids):
    ids, vocab = text_ids
    torch.manual_seed(3)
    model = make_charrnn(vocab=vocab, hidden_size=10, cell="lstm", input="embedding", embedding_dim=4).eval()
    model.attach_ngram(ids[:300], 4, 0.55, 0.45)
    return model


def test_attach_ngram_records_its_order_text_and_weights(mixed_model, text_ids):
    ids, _ = text_ids
    c = mixed_model.config
    assert (c.ngram_order, c.ngram_chars, c.rnn_weight, c.ngram_weight) == (4, 300, 0.55, 0.45)
    assert torch.equal(mixed_model.ngram_text.long(), ids[:300])
    expected = KneserNey(ids[:300].numpy(), 4, c.vocab_size)
    np.testing.assert_array_equal(mixed_model.ngram.distribution([1, 2, 3]), expected.distribution([1, 2, 3]))


def test_a_checkpoint_keeps_the_ngram_part(mixed_model, tmp_path):
    save_model(tmp_path / "m.pt", mixed_model.config, mixed_model)
    config, loaded = load_charrnn(tmp_path / "m.pt")
    assert config == mixed_model.config and state_dicts_equal(loaded, mixed_model)
    np.testing.assert_array_equal(loaded.ngram.distribution([0, 1]), mixed_model.ngram.distribution([0, 1]))


def test_a_checkpoint_whose_ngram_text_leaves_the_vocabulary_is_refused(mixed_model, tmp_path):
    state = mixed_model.state_dict()
    state["ngram_text"] = state["ngram_text"].clone()
    state["ngram_text"][7] = mixed_model.config.vocab_size
    save_model(tmp_path / "m.pt", mixed_model.config, _with_state(mixed_model, state))
    with pytest.raises(CheckpointError, match=r"n-gram text holds character ids outside \[0, \d+\)"):
        load_charrnn(tmp_path / "m.pt")


@pytest.mark.parametrize("gates, message", [
    ((float("nan"), 0.0, 0.0, 0.0), r"gate_weights\[0\] = nan is invalid: allowed is four finite numbers"),
    ((0.1, 0.2, 0.3), r"missing key 'gate_weights\[3\]'"),
])
def test_a_checkpoint_with_bad_gate_weights_is_refused_in_one_line(mixed_model, tmp_path, gates, message):
    saved = torch.load(_saved(mixed_model, tmp_path), weights_only=True)
    saved["config"]["gate_weights"] = gates
    torch.save(saved, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=message) as refused:
        load_charrnn(tmp_path / "bad.pt")
    assert "\n" not in str(refused.value)


def _saved(model, tmp_path):
    save_model(tmp_path / "m.pt", model.config, model)
    return tmp_path / "m.pt"


def _with_state(model, state):
    class Holder(torch.nn.Module):
        def state_dict(self, *args, **kwargs):
            return state
    return Holder()


def test_a_pure_rnn_has_no_ngram_part_and_old_checkpoints_load_as_one():
    model = make_charrnn(4)
    assert model.ngram is None and "ngram_text" not in model.state_dict()
    stored = model.config.to_checkpoint()
    for key in ("ngram_order", "ngram_chars"):
        del stored["arch"][key]
    del stored["rnn_weight"], stored["ngram_weight"]
    assert CharRNNConfig.from_checkpoint(stored) == model.config


def test_the_ngram_part_is_rebuilt_when_its_text_is_loaded(mixed_model, text_ids):
    ids, _ = text_ids
    before = mixed_model.ngram.distribution([1, 2])
    state = mixed_model.state_dict()
    state["ngram_text"] = ids[100:400].to(torch.int16)
    mixed_model.load_state_dict(state)
    after = mixed_model.ngram.distribution([1, 2])
    np.testing.assert_array_equal(after, KneserNey(ids[100:400].numpy(), 4, len(before)).distribution([1, 2]))


def test_an_ngram_order_needs_its_text_length():
    with pytest.raises(ValidationError, match="an n-gram part needs both > 0"):
        charrnn_config(4, ngram_order=3)
    with pytest.raises(ValidationError, match="an n-gram part needs both > 0"):
        charrnn_config(4, ngram_chars=10)


@pytest.mark.parametrize("mode", ["many_to_many", "many_to_one"])
def test_char_losses_scores_the_mixture_and_with_ngram_false_the_rnn(mixed_model, text_ids, mode):
    ids, _ = text_ids
    context, targets = ids[300:320], ids[320:380]
    losses, hits = char_losses(mixed_model, context, targets, mode, 10)
    rnn_losses, rnn_hits = char_losses(mixed_model, context, targets, mode, 10, with_ngram=False)
    stream = torch.cat([context, targets])
    positions = np.arange(len(context), len(stream))
    rnn_log_probs = []
    with torch.no_grad():
        for t in positions:
            history = stream[:t] if mode == "many_to_many" else stream[t - 10:t]
            rnn_log_probs.append(torch.log_softmax(mixed_model(history.unsqueeze(0))[0][0, -1].double(), -1))
    rnn_log_probs = torch.stack(rnn_log_probs)
    ngram = torch.from_numpy(np.log(mixed_model.ngram.distributions(stream.numpy(), positions)))
    expected = torch.log_softmax(0.55 * rnn_log_probs + 0.45 * ngram, -1)
    torch.testing.assert_close(losses, -expected.gather(1, targets.unsqueeze(1)).squeeze(1), rtol=1e-5, atol=1e-5)
    assert torch.equal(hits, (expected.argmax(-1) == targets).float())
    torch.testing.assert_close(rnn_losses.double(), -rnn_log_probs.gather(1, targets.unsqueeze(1)).squeeze(1),
                               rtol=1e-5, atol=1e-5)
    assert not torch.allclose(losses.double(), rnn_losses.double(), atol=1e-3)


def test_log_probs_is_the_mixture_and_reads_only_the_ngram_context(mixed_model, text_ids):
    ids, _ = text_ids
    stream = ids[300:380]
    positions = torch.arange(40, 81)  # 80: the character after the stream
    with torch.no_grad():
        logits = mixed_model(stream.unsqueeze(0))[0][0, 39:]
    got = mixed_model.log_probs(logits, stream, positions)
    expected = mixed_log_probs(logits, mixed_model.ngram.distributions(stream.numpy(), positions.numpy()), 0.55, 0.45)
    assert got.dtype == torch.float64 and torch.equal(got, expected)
    assert torch.equal(mixed_model.log_probs(logits[-1:], stream.tolist(), [80]),
                       mixed_log_probs(logits[-1], mixed_model.ngram.distribution(stream[-3:].tolist()), 0.55,
                                       0.45).unsqueeze(0))


def test_held_out_metrics_reports_the_mixture_and_its_rnn_part(mixed_model, text_ids):
    ids, _ = text_ids
    metrics = held_out_metrics(mixed_model, "many_to_many", 10, ids[:300], ids[300:400], ids[400:], 
                               mixed_model.config.vocab_size, 3)
    context = ids[:400][-200:]
    mixed, _ = char_losses(mixed_model, context, ids[400:], "many_to_many", 10)
    alone, _ = char_losses(mixed_model, context, ids[400:], "many_to_many", 10, with_ngram=False)
    assert metrics["bits_per_char"] == pytest.approx(float(mixed.double().mean()) * LOG2E, rel=1e-9)
    assert metrics["rnn_bits_per_char"] == pytest.approx(float(alone.double().mean()) * LOG2E, rel=1e-9)
    assert (metrics["mixed_ngram_order"], metrics["mixed_rnn_weight"], metrics["mixed_ngram_weight"]) == (4, 0.55, 0.45)
    stream = torch.cat([context, ids[400:]]).numpy()
    assert metrics["ngram_part_bits_per_char"] == mixed_model.ngram.bits_per_char(stream, len(context))
    # The baselines count the training and validation text, all the text before the test part, as the model's
    # n-gram part does.
    before_test = ids[:400].tolist()
    V = mixed_model.config.vocab_size
    assert metrics["unigram_bits_per_char"] == unigram_bits_per_char(before_test, ids[400:].tolist(), V)
    assert metrics["ngram_bits_per_char"] == KneserNey(before_test, 3, V).bits_per_char(stream, len(context))
    assert metrics["ngram_bits_per_char"] != KneserNey(ids[:300].tolist(), 3, V).bits_per_char(stream, len(context))


def test_generation_draws_from_the_mixture(mixed_model, text_ids):
    _, vocab = text_ids
    model = mixed_model
    model.attach_ngram(model.ngram_text.long(), 4, 0.0, 1.0)  # the n-gram alone: greedy follows its argmax
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index[ch] for ch in "мой дядя"]
    expected = []
    for _ in range(30):
        next_id = int(np.argmax(model.ngram.distribution(ids)))
        ids.append(next_id)
        expected.append(vocab[next_id])
    assert generate_text(model, vocab, "мой дядя", 30, "many_to_many", 10) == "".join(expected)
    model.attach_ngram(model.ngram_text.long(), 4, 1.0, 0.0)  # the RNN alone: as a model without an n-gram part
    pure = make_charrnn(vocab=vocab, hidden_size=10, cell="lstm", input="embedding", embedding_dim=4).eval()
    pure.load_state_dict({k: v for k, v in model.state_dict().items() if k != "ngram_text"})
    assert generate_text(model, vocab, "мой дядя", 30, "many_to_many", 10) == \
        generate_text(pure, vocab, "мой дядя", 30, "many_to_many", 10)


@pytest.mark.parametrize("mode", ["many_to_many", "many_to_one"])
def test_train_charrnn_fits_its_ngram_part_on_validation_deterministically(text_ids, mode):
    ids, vocab = text_ids
    train_ids, val_ids = ids[:430], ids[430:]
    p = charrnn_params(mode=mode, ngram_order=3, batch_size=4 if mode == "many_to_many" else 16)
    first, r1 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    second, r2 = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    assert first.config == second.config and state_dicts_equal(first, second)
    # Its weights were fitted with the n-gram counted on the training text; the model it ships then counts its
    # n-gram on the training and validation text, all the text before the test part.
    assert first.config.ngram_order == 3 and torch.equal(first.ngram_text.long(), torch.cat([train_ids, val_ids]))
    assert first.config.ngram_chars == len(train_ids) + len(val_ids)
    as_fitted = copy.deepcopy(first)
    as_fitted.attach_ngram(train_ids, 3, first.config.rnn_weight, first.config.ngram_weight)
    context = train_ids[-200:]
    alone, _ = char_losses(first, context, val_ids, mode, p.seq_length, with_ngram=False)
    mixed, _ = char_losses(as_fitted, context, val_ids, mode, p.seq_length)
    assert r1.mixed_val_loss == pytest.approx(float(mixed.double().mean()), rel=1e-5)
    assert r1.mixed_val_loss <= float(alone.double().mean()) + 1e-9
    shipped, _ = char_losses(first, context, val_ids, mode, p.seq_length)  # its n-gram has seen this text
    assert not torch.equal(shipped, mixed)
    assert 0 < r1.ngram_seconds <= r1.seconds
    summary = training_summary(r1, len(train_ids), len(vocab), first)
    assert summary["ngram_order"] == 3
    assert summary["combined_val_bits_per_char"] == pytest.approx(r1.mixed_val_loss * LOG2E)
    assert (summary["rnn_weight"], summary["ngram_weight"]) == (first.config.rnn_weight, first.config.ngram_weight)


def test_train_charrnn_without_an_ngram_part_is_a_pure_rnn(text_ids):
    ids, vocab = text_ids
    model, result = train_charrnn(ids[:430], ids[430:], vocab, charrnn_params(), show_progress=False)
    assert model.ngram is None and result.mixed_val_loss is None
    summary = training_summary(result, 430, len(vocab), model)
    assert (summary["ngram_order"], summary["rnn_weight"], summary["ngram_weight"]) == (0, 1.0, 0.0)
    # The model's validation figure is its RNN's at the fitted temperature, on the whole validation text.
    assert summary["combined_val_bits_per_char"] == summary["rnn_val_bits_per_char"]
    assert summary["rnn_val_bits_per_char"] < summary["raw_rnn_val_bits_per_char"]
    assert summary["rnn_temperature"] == model.config.rnn_temperature != 1.0
    context = ids[430 - 200:430]
    for temperature, key in ((model.config.rnn_temperature, "rnn_val_bits_per_char"),
                             (1.0, "raw_rnn_val_bits_per_char")):
        model.set_temperature(temperature)
        losses, _ = char_losses(model, context, ids[430:], "many_to_many", 10)
        assert summary[key] == pytest.approx(float(losses.double().mean()) * LOG2E, rel=1e-5)

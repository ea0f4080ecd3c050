"""Tests for text sampling (rnnpipe.charrnn.generate)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnpipe.charrnn.generate import generate_text, samples_markdown
from rnnpipe.charrnn.inputs import check_prompt, clean_prompt
from rnnpipe.charrnn.model import CharRNN
from rnnpipe.core.errors import GenerationError
from tests.builders import charrnn_config, make_charrnn

torch.set_num_threads(1)


VOCAB = list(" абвгде")


class FixedLogits(CharRNN):
    """A pure char RNN whose next-character logits are always the same."""

    def __init__(self, logits: list[float]):
        super().__init__(charrnn_config(len(logits)))
        self.logits = torch.tensor(logits)

    def forward(self, ids: torch.Tensor, state=None):
        batch, steps = ids.shape
        return self.logits.expand(batch, steps, len(self.logits)).clone(), state


@pytest.fixture(scope="module")
def model() -> CharRNN:
    torch.manual_seed(0)
    return make_charrnn(len(VOCAB), hidden_size=16, cell="gru", input="embedding", embedding_dim=8).eval()


def manual_greedy_many_to_many(model: nn.Module, prompt: str, n_chars: int) -> str:
    ids = torch.tensor([[VOCAB.index(ch) for ch in prompt]])
    out, state = [], None
    with torch.no_grad():
        for _ in range(n_chars):
            logits, state = model(ids, state)
            next_id = int(torch.argmax(logits[0, -1]))
            out.append(VOCAB[next_id])
            ids = torch.tensor([[next_id]])
    return "".join(out)


def manual_greedy_many_to_one(model: nn.Module, prompt: str, n_chars: int, seq_length: int) -> str:
    ids = [VOCAB.index(ch) for ch in prompt]
    with torch.no_grad():
        for _ in range(n_chars):
            logits, _ = model(torch.tensor([ids[-seq_length:]]))
            ids.append(int(torch.argmax(logits[0, -1])))
    return "".join(VOCAB[i] for i in ids[len(prompt):])


def test_check_prompt_names_the_characters_outside_the_vocabulary():
    with pytest.raises(GenerationError) as info:
        check_prompt("где zx!", VOCAB)
    message = str(info.value)
    assert "'!xz'" in message and "\n" not in message


def test_check_prompt_accepts_a_prompt_inside_the_vocabulary():
    check_prompt("где а где", VOCAB)


def test_generate_text_refuses_a_bad_prompt_and_an_unknown_method(model):
    with pytest.raises(GenerationError, match="'q'"):
        generate_text(model, VOCAB, "аq", 3, "many_to_many", 5)
    with pytest.raises(GenerationError, match="beam"):
        generate_text(model, VOCAB, "аб", 3, "many_to_many", 5, method="beam")


def test_greedy_many_to_many_equals_a_manual_argmax_loop(model):
    text = generate_text(model, VOCAB, "где а", 25, "many_to_many", seq_length=5)
    assert len(text) == 25 and set(text) <= set(VOCAB)
    assert text == manual_greedy_many_to_many(model, "где а", 25)
    assert text == generate_text(model, VOCAB, "где а", 25, "many_to_many", seq_length=5)


def test_greedy_many_to_one_sees_only_the_previous_seq_length_chars(model):
    text = generate_text(model, VOCAB, "вгде абв", 20, "many_to_one", seq_length=4)
    assert text == manual_greedy_many_to_one(model, "вгде абв", 20, seq_length=4)


def test_greedy_ignores_the_seed(model):
    a = generate_text(model, VOCAB, "аб", 15, "many_to_many", 5, seed=0)
    b = generate_text(model, VOCAB, "аб", 15, "many_to_many", 5, seed=123)
    assert a == b


def test_generation_leaves_the_model_in_eval_mode_and_its_weights_untouched(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    generate_text(model, VOCAB, "аб", 5, "many_to_many", 5, method="temperature")
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", ["temperature", "top_k"])
def test_sampling_is_reproducible_for_a_seed_and_changes_with_it(model, method):
    kwargs = dict(method=method, temperature=1.5, top_k=4)
    a = generate_text(model, VOCAB, "где", 60, "many_to_many", 5, seed=1, **kwargs)
    b = generate_text(model, VOCAB, "где", 60, "many_to_many", 5, seed=1, **kwargs)
    c = generate_text(model, VOCAB, "где", 60, "many_to_many", 5, seed=2, **kwargs)
    assert a == b
    assert a != c


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_top_k_of_one_equals_greedy(model, temperature):
    greedy = generate_text(model, VOCAB, "где а", 30, "many_to_many", 5)
    top1 = generate_text(model, VOCAB, "где а", 30, "many_to_many", 5, method="top_k", top_k=1,
                         temperature=temperature, seed=7)
    assert top1 == greedy


LOGITS = [0.0, 2.0, 1.0, 2.5, -1.0, 1.9, 0.5]  # top-3: ids 3, 1, 5 → 'в', 'а', 'д'


def test_top_k_only_ever_picks_the_k_most_likely_characters():
    fixed = FixedLogits(LOGITS)
    text = generate_text(fixed, VOCAB, "а", 400, "many_to_many", 5, method="top_k", top_k=3, temperature=2.0, seed=0)
    assert set(text) == {VOCAB[3], VOCAB[1], VOCAB[5]}


def test_temperature_sampling_without_top_k_reaches_beyond_the_top_three():
    fixed = FixedLogits(LOGITS)
    text = generate_text(fixed, VOCAB, "а", 400, "many_to_many", 5, method="temperature", temperature=2.0, seed=0)
    assert len(set(text)) == len(VOCAB)


def test_temperature_sampling_frequencies_follow_softmax_of_scaled_logits():
    fixed = FixedLogits(LOGITS)
    n, temperature = 4000, 2.0
    text = generate_text(fixed, VOCAB, "а", n, "many_to_many", 5, method="temperature", temperature=temperature,
                         seed=3)
    expected = torch.softmax(torch.tensor(LOGITS, dtype=torch.float64) / temperature, dim=0).numpy()
    observed = np.array([text.count(ch) for ch in VOCAB]) / n
    np.testing.assert_allclose(observed, expected, atol=0.03)


def test_low_temperature_concentrates_on_the_argmax():
    fixed = FixedLogits(LOGITS)
    text = generate_text(fixed, VOCAB, "а", 200, "many_to_many", 5, method="temperature", temperature=0.01, seed=0)
    assert text == VOCAB[3] * 200


# --- prompts cleaned like the corpus, samples as Markdown ---------------------------------------------------------

def test_a_prompt_is_cleaned_exactly_like_the_corpus_before_the_vocabulary_check():
    assert clean_prompt("ГДЕ  Где!", VOCAB) == "где где"  # lowercased, one space, the dropped symbol dropped
    assert clean_prompt("где ", VOCAB) == "где "  # a trailing space stays: the next character starts a word


def test_what_cleaning_cannot_map_is_one_line_naming_it():
    with pytest.raises(GenerationError) as info:
        clean_prompt("ГДЕ zx", VOCAB)
    message = str(info.value)
    assert "'ГДЕ zx'" in message and "'где zx'" in message and "'xz'" in message and "\n" not in message
    with pytest.raises(GenerationError, match="nothing is left"):
        clean_prompt("!!! —", VOCAB)


def test_samples_markdown_renders_the_prompt_in_bold_and_no_stray_asterisks():
    from markdown_it import MarkdownIt

    samples = [{"method": "greedy", "seed": 0, "text": " честных правил"},
               {"method": "top_k", "temperature": 0.8, "top_k": 5, "seed": 0, "text": "1. когда"}]
    for prompt in ("мой дядя самых", "нейронная сеть "):
        html = MarkdownIt().render(samples_markdown(prompt, samples))
        assert "**" not in html and html.count(f"<strong>{prompt.strip()}</strong>") == 2, html
        assert "честных правил" in html and "1. когда" in html and "<ol" not in html

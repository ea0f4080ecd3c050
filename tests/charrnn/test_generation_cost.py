"""Generation with an n-gram part reads only the n-gram's context, so a character costs the same at the 10th and at
the 10,000th position, and the text is the one that reading the whole history gives."""
from __future__ import annotations

import pytest
import torch

from rnnpipe.charrnn.generate import _choose, generate_text
from rnnpipe.charrnn.mixture import mixed_log_probs
from rnnpipe.charrnn.model import CharRNN
from rnnpipe.charrnn.ngram import KneserNey
from tests.builders import make_charrnn

torch.set_num_threads(1)

VOCAB = list(" абвгдежз")
ORDER = 4


@pytest.fixture(scope="module")
def mixed_model() -> CharRNN:
    torch.manual_seed(3)
    model = make_charrnn(len(VOCAB), hidden_size=16, cell="lstm", input="embedding", embedding_dim=8).eval()
    text = torch.randint(len(VOCAB), (2000,), generator=torch.Generator().manual_seed(4))
    model.attach_ngram(text, ORDER, 0.6, 0.7)
    return model


@torch.no_grad()
def whole_history_generation(model: CharRNN, prompt: str, n_chars: int, method: str, temperature: float,
                             top_k: int, seed: int) -> str:
    """A reference generator that hands the n-gram every character so far (no context cut)."""
    ids = [VOCAB.index(ch) for ch in prompt]
    generator = torch.Generator().manual_seed(seed)
    state, pending, out = None, torch.tensor([ids]), []
    for _ in range(n_chars):
        logits, state = model(pending, state)
        scores = mixed_log_probs(logits[0, -1], model.ngram.distribution(ids), model.config.rnn_weight,
                                 model.config.ngram_weight)
        next_id = _choose(scores, method, temperature, top_k, generator)
        ids.append(next_id)
        out.append(VOCAB[next_id])
        pending = torch.tensor([[next_id]])
    return "".join(out)


@pytest.mark.parametrize("method, temperature, top_k", [("greedy", 1.0, None), ("temperature", 0.8, None),
                                                        ("top_k", 0.8, 3)])
def test_the_text_is_the_one_the_whole_history_gives(mixed_model, method, temperature, top_k):
    for seed in (0, 7):
        expected = whole_history_generation(mixed_model, "абв где", 120, method, temperature, top_k, seed)
        got = generate_text(mixed_model, VOCAB, "абв где", 120, "many_to_many", 10, method, temperature, top_k, seed)
        assert got == expected


class ContextRecorder(KneserNey):
    """The model's own n-gram, noting how long a context each next-character distribution was given."""

    def __init__(self, fitted: KneserNey, lengths: list[int]):
        self.__dict__.update(fitted.__dict__)
        self.lengths = lengths

    def distributions(self, stream, positions):
        self.lengths.append(len(stream))
        return super().distributions(stream, positions)


@pytest.mark.parametrize("prompt_length", [10, 10_000])
def test_the_ngram_is_given_its_context_and_no_more_however_long_the_history(mixed_model, prompt_length):
    lengths: list[int] = []
    fitted = mixed_model.ngram
    mixed_model._ngram = ContextRecorder(fitted, lengths)
    try:
        prompt = ("абв где " * prompt_length)[:prompt_length]
        generate_text(mixed_model, VOCAB, prompt, 30, "many_to_many", 10, "top_k", 0.8, 3, 0)
    finally:
        mixed_model._forget_ngram()
    assert lengths == [ORDER - 1] * 30

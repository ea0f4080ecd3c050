"""Small typed configs and models for unit tests: a config with every field filled in, any of them overridden."""
from __future__ import annotations

from typing import Any

from rnnpipe.charrnn.model import CharRNN, CharRNNConfig
from rnnpipe.forecaster.model import Forecaster, ForecasterConfig

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(size: int) -> list[str]:
    """`size` distinct characters: Latin letters first, then more from further up Unicode."""
    return list(LETTERS[:size]) + [chr(0x100 + i) for i in range(max(0, size - len(LETTERS)))]


def forecaster_config(**overrides: Any) -> ForecasterConfig:
    values: dict[str, Any] = dict(cell="rnn", hidden_size=5, num_layers=1, seq_length=10, n_val=5)
    return ForecasterConfig(**{**values, **overrides})


def make_forecaster(**overrides: Any) -> Forecaster:
    return Forecaster(forecaster_config(**overrides))


def charrnn_config(vocab_size: int = 5, **overrides: Any) -> CharRNNConfig:
    vocab = overrides.pop("vocab", vocabulary(vocab_size))
    values: dict[str, Any] = dict(vocab_size=len(vocab), hidden_size=8, num_layers=1, cell="rnn", input="one_hot",
                                  embedding_dim=4, dropout=0.0, mode="many_to_many", seq_length=10, vocab=vocab)
    return CharRNNConfig(**{**values, **overrides})


def make_charrnn(vocab_size: int = 5, **overrides: Any) -> CharRNN:
    return CharRNN(charrnn_config(vocab_size, **overrides))

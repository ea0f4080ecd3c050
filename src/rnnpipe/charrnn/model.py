"""The char-RNN and its config: an input encoding (embedding or one-hot) + a ManyToMany RNN → next-char logits."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from rnnpipe.core.checkpoint import ModelConfig, load_model
from rnnpipe.core.params import Allowed, Cell, CharInput, CharMode, at_least, one_of
from rnnpipe.core.recurrent import ManyToMany, State


class CharRNNConfig(ModelConfig):
    """What builds the model (the "arch" fields) and how it reads text (mode, seq_length, vocab)."""

    kind: ClassVar[str] = "charrnn"
    ARCH: ClassVar[tuple[str, ...]] = ("vocab_size", "hidden_size", "num_layers", "cell", "input", "embedding_dim",
                                       "dropout")
    vocab_size: at_least(1)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    cell: one_of(Cell)
    input: one_of(CharInput)
    embedding_dim: at_least(1)
    dropout: Annotated[float, Field(ge=0, lt=1), Allowed("a number in [0, 1)")]
    mode: one_of(CharMode)
    seq_length: at_least(1)
    vocab: Annotated[list[str], Field(min_length=1), Allowed("a non-empty list of characters")]

    @model_validator(mode="after")
    def _vocab_matches_its_size(self) -> "CharRNNConfig":
        if len(self.vocab) != self.vocab_size:
            raise ValueError(f"vocab has {len(self.vocab)} characters but vocab_size is {self.vocab_size}")
        return self


class OneHot(nn.Module):
    """The course's input encoding, computed on the fly: no per-sample Python loop, no stored one-hot rows."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.vocab_size).float()


class CharRNN(nn.Module):
    """Character ids [B, T] → next-character logits [B, T, V] (and the recurrent state, to carry on)."""

    def __init__(self, config: CharRNNConfig):
        super().__init__()
        self.config = config
        if config.input == "embedding":
            self.encode: nn.Module = nn.Embedding(config.vocab_size, config.embedding_dim)
            input_size = config.embedding_dim
        else:
            self.encode = OneHot(config.vocab_size)
            input_size = config.vocab_size
        self.input_dropout = nn.Dropout(config.dropout if config.input == "embedding" else 0.0)
        self.net = ManyToMany(input_size, config.hidden_size, config.vocab_size, num_layers=config.num_layers,
                              cell=config.cell, dropout=config.dropout)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        return self.net(self.input_dropout(self.encode(ids)), state)


class LogitsOnly(nn.Module):
    """CharRNN without the state output: the form MLflow's torch.export path accepts (tensor in, tensor out)."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)[0]


def load_charrnn(path: str | Path) -> tuple[CharRNNConfig, CharRNN]:
    return load_model(path, CharRNNConfig, CharRNN)

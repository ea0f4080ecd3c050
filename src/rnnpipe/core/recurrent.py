"""Recurrent building blocks both models are made of.

ManyToOne: a sequence in, one output: the head reads the *last layer's* final hidden state.
ManyToMany: a sequence in, one output per step: every step's output goes through the head.
The forecaster is a ManyToOne over scalar values; the char-RNN an input encoding + a ManyToMany.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnpipe.core.dropout import Dropout
from rnnpipe.core.lstm import FastLSTM
from rnnpipe.core.params import CELLS, Cell

CELL_TYPES: dict[str, type[nn.RNNBase]] = dict(zip(CELLS, (nn.RNN, nn.GRU, FastLSTM)))  # FastLSTM is an nn.LSTM
State = Any  # a tensor for RNN/GRU, a (h, c) tuple for LSTM


def make_rnn(cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
             weight_dropout: float = 0.0) -> nn.RNNBase:
    """weight_dropout: DropConnect on the recurrent weights in training (FastLSTM: lstm only)."""
    if cell not in CELL_TYPES:
        raise ValueError(f"cell = {cell!r}: allowed is one of {', '.join(CELL_TYPES)}")
    if weight_dropout and cell != "lstm":
        raise ValueError(f"weight_dropout = {weight_dropout!r} with cell {cell!r}: allowed is 0 (recurrent weight "
                         "dropout is the lstm's)")
    # nn.RNN* applies dropout only between layers and warns when there is a single layer.
    extra = {"weight_dropout": weight_dropout} if weight_dropout else {}
    return CELL_TYPES[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0, **extra)


def detach_state(state: State) -> State:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class ManyToOne(nn.Module):
    """x [B, T, input] → [B, output] from the last layer's hidden state after the last step."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 cell: Cell = "rnn", dropout: float = 0.0):
        super().__init__()
        self.rnn = make_rnn(cell, input_size, hidden_size, num_layers, dropout)
        # Computes nothing; a saved state_dict's metadata names every submodule, so this one keeps checkpoints' bytes.
        self.activation = nn.Identity()
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, state: State = None) -> torch.Tensor:
        out, _ = self.rnn(x, state)
        # For a unidirectional batch_first RNN, out[:, -1] is exactly h_n[-1]: the last layer's final state.
        return self.head(out[:, -1])

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, output]: the head applied after every step; the last step is what forward() returns."""
        out, _ = self.rnn(x)
        return self.head(out)


class ManyToMany(nn.Module):
    """x [B, T, input] → ([B, T, output], state): every step's output goes through the head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 cell: Cell = "rnn", dropout: float = 0.0, weight_dropout: float = 0.0):
        super().__init__()
        self.rnn = make_rnn(cell, input_size, hidden_size, num_layers, dropout, weight_dropout)
        self.dropout = Dropout(dropout)
        # Computes nothing; a saved state_dict's metadata names every submodule, so this one keeps checkpoints' bytes.
        self.activation = nn.Identity()
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        out, state = self.rnn(x, state)
        return self.head(self.dropout(out)), state

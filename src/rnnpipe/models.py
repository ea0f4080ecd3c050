"""Recurrent building blocks and the two models built from them.

ManyToOne: a sequence in, one output: the head reads the *last layer's* final hidden state.
ManyToMany: a sequence in, one output per step: every step's output goes through the head.
Forecaster = ManyToOne over scalar values; CharRNN = an input encoding (embedding or one-hot) + ManyToMany.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn
from torch.nn import functional as F

from rnnpipe.errors import CheckpointError, first_line

CELL_TYPES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
State = Any  # a tensor for RNN/GRU, a (h, c) tuple for LSTM


def make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> nn.RNNBase:
    if cell not in CELL_TYPES:
        raise ValueError(f"cell = {cell!r}: allowed is one of {', '.join(CELL_TYPES)}")
    # nn.RNN* applies dropout only between layers and warns when there is a single layer.
    return CELL_TYPES[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)


def detach_state(state: State) -> State:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class ManyToOne(nn.Module):
    """x [B, T, input] → [B, output] from the last layer's hidden state after the last step."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 cell: str = "rnn", head_activation: Optional[str] = None, dropout: float = 0.0):
        super().__init__()
        self.rnn = make_rnn(cell, input_size, hidden_size, num_layers, dropout)
        self.activation = nn.ReLU() if head_activation == "relu" else nn.Identity()
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, state: State = None) -> torch.Tensor:
        out, _ = self.rnn(x, state)
        # For a unidirectional batch_first RNN, out[:, -1] is exactly h_n[-1]: the last layer's final state.
        return self.head(self.activation(out[:, -1]))

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, output]: the head applied after every step; the last step is what forward() returns."""
        out, _ = self.rnn(x)
        return self.head(self.activation(out))


class ManyToMany(nn.Module):
    """x [B, T, input] → ([B, T, output], state): every step's output goes through the head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 cell: str = "rnn", head_activation: Optional[str] = None, dropout: float = 0.0):
        super().__init__()
        self.rnn = make_rnn(cell, input_size, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.ReLU() if head_activation == "relu" else nn.Identity()
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        out, state = self.rnn(x, state)
        return self.head(self.activation(self.dropout(out))), state


class Forecaster(nn.Module):
    """The previous seq_length values [B, T] → the next value [B]."""

    def __init__(self, cell: str = "rnn", hidden_size: int = 5, num_layers: int = 1):
        super().__init__()
        self.config = {"cell": cell, "hidden_size": hidden_size, "num_layers": num_layers}
        self.net = ManyToOne(1, hidden_size, 1, num_layers=num_layers, cell=cell)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.net(window.unsqueeze(-1)).squeeze(-1)

    def forward_steps(self, window: torch.Tensor) -> torch.Tensor:
        """[B, T]: after each step t, the prediction of value t+1 from values 0..t (training only)."""
        return self.net.forward_steps(window.unsqueeze(-1)).squeeze(-1)


class OneHot(nn.Module):
    """The course's input encoding, computed on the fly: no per-sample Python loop, no stored one-hot rows."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.vocab_size).float()


class CharRNN(nn.Module):
    """Character ids [B, T] → next-character logits [B, T, V] (and the recurrent state, to carry on)."""

    def __init__(self, vocab_size: int, hidden_size: int = 64, num_layers: int = 1, cell: str = "rnn",
                 input: str = "one_hot", embedding_dim: int = 32, dropout: float = 0.0):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "hidden_size": hidden_size, "num_layers": num_layers,
                       "cell": cell, "input": input, "embedding_dim": embedding_dim, "dropout": dropout}
        if input == "embedding":
            self.encode: nn.Module = nn.Embedding(vocab_size, embedding_dim)
            input_size = embedding_dim
        elif input == "one_hot":
            self.encode = OneHot(vocab_size)
            input_size = vocab_size
        else:
            raise ValueError(f"input = {input!r}: allowed is embedding or one_hot")
        self.input_dropout = nn.Dropout(dropout if input == "embedding" else 0.0)
        self.net = ManyToMany(input_size, hidden_size, vocab_size, num_layers=num_layers, cell=cell, dropout=dropout)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        return self.net(self.input_dropout(self.encode(ids)), state)


class LogitsOnly(nn.Module):
    """CharRNN without the state output: the form MLflow's torch.export path accepts (tensor in, tensor out)."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)[0]


def build_model(config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from the config stored in its checkpoint."""
    kind = config.get("kind")
    arch = config["arch"]
    if kind == "forecaster":
        return Forecaster(**arch)
    if kind == "charrnn":
        return CharRNN(**arch)
    raise ValueError(f"unknown model kind {kind!r}: allowed is forecaster or charrnn")


def load_model(path: Any) -> tuple[dict[str, Any], nn.Module]:
    """Checkpoint → (config, model in eval mode); loaded with weights_only, so no pickled code runs."""
    from rnnpipe.io import load_checkpoint

    config, state = load_checkpoint(path)
    try:
        model = build_model(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not match its model config: {first_line(exc)}") from None
    return config, model.eval()

"""The forecaster model and its config: a ManyToOne RNN over scalar values, one value out per window."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from rnnpipe.core.checkpoint import ModelConfig, load_model
from rnnpipe.core.params import Cell, at_least, one_of
from rnnpipe.core.recurrent import ManyToOne


class ForecasterConfig(ModelConfig):
    """What builds the model (cell, hidden_size, num_layers) and how it was trained to be used."""

    kind: ClassVar[str] = "forecaster"
    ARCH: ClassVar[tuple[str, ...]] = ("cell", "hidden_size", "num_layers")
    cell: one_of(Cell)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    seq_length: at_least(1)   # values in, per prediction
    n_val: at_least(1)        # validation targets carved from the end of the training part


class Forecaster(nn.Module):
    """The previous seq_length values [B, T] → the next value [B]."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = config
        self.net = ManyToOne(1, config.hidden_size, 1, num_layers=config.num_layers, cell=config.cell)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.net(window.unsqueeze(-1)).squeeze(-1)

    def forward_steps(self, window: torch.Tensor) -> torch.Tensor:
        """[B, T]: after each step t, the prediction of value t+1 from values 0..t (training only)."""
        return self.net.forward_steps(window.unsqueeze(-1)).squeeze(-1)


def load_forecaster(path: str | Path) -> tuple[ForecasterConfig, Forecaster]:
    return load_model(path, ForecasterConfig, Forecaster)

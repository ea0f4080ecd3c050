"""The forecaster model and its config: a ManyToOne RNN over scalar values, one value out per window, plus an
optional causal linear filter over the window's last values (a linear AR path beside the RNN)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional

import torch
from torch import nn
from torch.nn import functional as F

from rnnpipe.core.checkpoint import ModelConfig, load_model
from rnnpipe.core.params import Cell, at_least, one_of
from rnnpipe.core.recurrent import ManyToOne


class ForecasterConfig(ModelConfig):
    """What builds the model (cell, hidden_size, num_layers, linear_window) and how it was trained to be used."""

    kind: ClassVar[str] = "forecaster"
    ARCH: ClassVar[tuple[str, ...]] = ("cell", "hidden_size", "num_layers", "linear_window")
    cell: one_of(Cell)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    seq_length: at_least(1)   # values in, per prediction
    n_val: at_least(1)        # validation targets carved from the end of the training part
    linear_window: at_least(0) = 0  # values the linear path reads; 0 (or no key): no linear path

    def to_checkpoint(self) -> dict[str, Any]:
        # No linear path: the key is left out, so the checkpoint is byte for byte the plain RNN forecaster's.
        raw = super().to_checkpoint()
        if self.linear_window == 0:
            del raw["arch"]["linear_window"]
        return raw


class Forecaster(nn.Module):
    """The previous seq_length values [B, T] → the next value [B]: the RNN's prediction, plus, when linear_window
    L > 0, a linear filter of the last L values (its own weights and bias), trained together."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = config
        self.net = ManyToOne(1, config.hidden_size, 1, num_layers=config.num_layers, cell=config.cell)
        self.linear: Optional[nn.Linear] = None
        if config.linear_window > 0:
            # Built after the RNN, so the RNN's initial weights are those of a model without this path. Zeros: the
            # path starts as no correction at all and grows only as far as the data pulls it.
            self.linear = nn.Linear(config.linear_window, 1)
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.bias.zero_()

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        prediction = self.net(window.unsqueeze(-1)).squeeze(-1)
        if self.linear is None:
            return prediction
        recent = window[:, -self.config.linear_window:]
        if recent.shape[1] < self.config.linear_window:  # a window shorter than L: zeros stand for older values
            recent = F.pad(recent, (self.config.linear_window - recent.shape[1], 0))
        return prediction + self.linear(recent).squeeze(-1)

    def forward_steps(self, window: torch.Tensor) -> torch.Tensor:
        """[B, T]: after each step t, the prediction of value t+1 from values 0..t (training only). The linear
        path at step t reads the last min(L, t+1) values, zeros standing for those before the window, exactly as
        forward() does for the prefix: with linear_window <= seq_length - targets_per_window + 1 every scored
        step reads L real values."""
        prediction = self.net.forward_steps(window.unsqueeze(-1)).squeeze(-1)
        if self.linear is None:
            return prediction
        padded = F.pad(window, (self.config.linear_window - 1, 0)).unsqueeze(1)          # [B, 1, L - 1 + T]
        weight = self.linear.weight.unsqueeze(0)                                          # [1, 1, L]
        return prediction + F.conv1d(padded, weight, self.linear.bias).squeeze(1)


def load_forecaster(path: str | Path) -> tuple[ForecasterConfig, Forecaster]:
    return load_model(path, ForecasterConfig, Forecaster)

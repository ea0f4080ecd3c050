"""Forecaster figures: predictions (one-step or recursive) against the noisy truth and the clean signal."""
from __future__ import annotations

import numpy as np

from rnnpipe.core.plots import plt


def predictions_figure(x: np.ndarray, target: np.ndarray, clean: np.ndarray, lines: dict[str, np.ndarray],
                       title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(x, target, ".", ms=2, color="grey", label="noisy truth")
    ax.plot(x, clean, color="black", lw=0.8, label="clean signal")
    for name, values in lines.items():
        ax.plot(x, values, lw=1.0, label=name)
    ax.set_xlabel("x")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig

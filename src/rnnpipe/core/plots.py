"""Figures shared by both models (PNG, written by rnnpipe.core.io.save_figure); matplotlib runs headless."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: stages run in terminals, CI and DVC queue workers
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def loss_figure(history: pd.DataFrame, title: str, ylabel: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["epoch"], history["train_loss"], marker=".", label="train")
    ax.plot(history["epoch"], history["val_loss"], marker=".", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def close(fig: plt.Figure) -> None:
    plt.close(fig)

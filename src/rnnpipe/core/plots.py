"""Figures shared by both models (PNG, written by rnnpipe.core.io.save_figure); matplotlib runs headless."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: stages run in terminals, CI and DVC queue workers
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def loss_figure(history: pd.DataFrame, title: str, ylabel: str) -> plt.Figure:
    """history: epoch and two loss columns, training first (see rnnpipe.core.training.history_frame)."""
    train, val = (column for column in history.columns if column != "epoch")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["epoch"], history[train], marker=".", label="train")
    ax.plot(history["epoch"], history[val], marker=".", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def long_table(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """A table for `dvc plots`: one row per (x, series) with its value, so the template .dvc/plots/series.json can
    give each series its own colour (DVC colours by revision, and draws a wide table's columns in one colour)."""
    series = [column for column in frame.columns if column != x]
    return frame.melt(id_vars=[x], value_vars=series, var_name="series", value_name="value")


def close(fig: plt.Figure) -> None:
    plt.close(fig)

"""Figures for the plots/ and samples/ folders (PNG, written by rnnpipe.io.save_figure)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: stages run in terminals, CI and DVC queue workers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def series_figure(signal: pd.DataFrame, ar1: pd.DataFrame, ar2: pd.DataFrame, show: int = 300) -> plt.Figure:
    fig, axes = plt.subplots(3, 1, figsize=(10, 9))
    for split, colour in (("train", "tab:blue"), ("test", "tab:orange")):
        part = signal[signal["split"] == split]
        axes[0].plot(part["x"], part["y"], ".", ms=2, color=colour, label=f"y ({split})")
    axes[0].plot(signal["x"], signal["clean"], color="black", lw=0.8, label="cos(x) + 0.5 sin(5x)")
    axes[0].set_title("noisy signal")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].plot(ar1["t"][:show], ar1["x"][:show], lw=0.8)
    axes[1].set_title(f"AR(1), 1-D (first {show} steps)")
    for column in ("x1", "x2"):
        axes[2].plot(ar2["t"][:show], ar2[column][:show], lw=0.8, label=column)
    axes[2].set_title(f"AR(1), 2-D (first {show} steps)")
    axes[2].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


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


def close(fig: plt.Figure) -> None:
    plt.close(fig)

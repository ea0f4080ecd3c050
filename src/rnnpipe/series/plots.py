"""The picture of the synthetic series: the noisy signal with its split, and the AR(1) processes."""
from __future__ import annotations

import pandas as pd

from rnnpipe.core.plots import plt


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

"""The noisy signal the forecaster learns: y = cos(x) + 0.5 sin(5x) + noise_std * eps on a linspace."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def clean_signal(x: np.ndarray) -> np.ndarray:
    return np.cos(x) + 0.5 * np.sin(5 * x)


def noisy_signal(x_min: float, x_max: float, n_points: int, n_train: int, noise_std: float, seed: int) -> pd.DataFrame:
    """Columns x, clean, y (= clean + noise_std * eps) and split (train for the first n_train points, else test)."""
    x = np.linspace(x_min, x_max, n_points)
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(n_points, generator=generator, dtype=torch.float64).numpy()
    clean = clean_signal(x)
    return pd.DataFrame({
        "x": x,
        "clean": clean,
        "y": clean + noise_std * eps,
        "split": np.where(np.arange(n_points) < n_train, "train", "test"),
    })

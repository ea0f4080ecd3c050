"""Numerics that must not drift: the thread count, deterministic kernels, the seed."""
from __future__ import annotations

import os


def configure_determinism(seed: int) -> None:
    """Same seed, same bytes: fixed thread count and deterministic kernels."""
    import torch

    # Thread count changes the order of floating-point reductions; pin it so two machines agree.
    torch.set_num_threads(int(os.environ.get("RNNPIPE_THREADS", "2")))
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)

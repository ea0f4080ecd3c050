"""This machine's SGEMM rate, measured with the process's settings, for benchmarks/charrnn.py's `rate` part (the
FLOPs per training target it compares with come from rnnpipe.core.cost)."""
from __future__ import annotations

import time


def sgemm_gflops(m: int, k: int, n: int, seconds: float = 2.0) -> float:
    """GFLOP/s of torch.mm on float32 [m, k] @ [k, n], with the process's current threads and settings."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator)
    b = torch.randn(k, n, generator=generator)
    out = torch.empty(m, n)
    for _ in range(3):
        torch.mm(a, b, out=out)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b, out=out)
        reps += 1
    return 2.0 * m * k * n * reps / (time.perf_counter() - start) / 1e9

"""Same seed, same bytes, at any thread count: deterministic kernels, and reductions that never split by thread.

The thread count does not change the bits, by construction: MKL's strict reproducibility mode (`,STRICT` in
MKL_CBWR) makes its GEMMs independent of the thread count; oneDNN is turned off, because its LSTM picks its blocking
from the thread count and the size of the CPU's L2 cache; OpenBLAS (numpy's least squares) runs on one thread
(those three are process settings: rnnpipe.core.numerics); and the project never sums more than ATen's grain size
(32768 values) in one torch reduction, which is where ATen would split a sum by thread (`invariant_mean`).
tests/integration/test_reproducibility.py runs the pipeline with different thread counts and instruction-set
settings in the outside environment and compares every output byte.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# ATen splits a full reduction across threads only above this many values (at::internal::GRAIN_SIZE).
GRAIN_SIZE = 32768


def configure_determinism(seed: int) -> None:
    """Deterministic kernels and the seed (instruction sets and threads: rnnpipe.core.numerics, set at start)."""
    import sys

    import torch

    # torch.use_deterministic_algorithms(True) also imports the compiler stack (torch._inductor: 1.8 s of a stage's
    # start) to set its flag; nothing here compiles, so ATen's switch alone is set, and the compiler's only if loaded.
    torch._C._set_deterministic_algorithms(True, warn_only=False)
    if "torch._inductor.config" in sys.modules:
        sys.modules["torch._inductor.config"].deterministic = True
    torch.manual_seed(seed)


def invariant_mean(values: "torch.Tensor") -> "torch.Tensor":
    """The mean of all values, with bits that do not depend on the thread count.

    ATen sums more than GRAIN_SIZE values in per-thread chunks; here longer inputs are summed in rows of 1024 first
    (each row by one thread), then the row sums, which stay under the grain size for any input below 33 M values.
    """
    import torch

    flat = values.reshape(-1)
    if flat.numel() <= GRAIN_SIZE:
        return flat.mean()
    rows = -(-flat.numel() // 1024)
    padded = torch.nn.functional.pad(flat, (0, rows * 1024 - flat.numel()))
    return padded.view(rows, 1024).sum(dim=1).sum() / flat.numel()

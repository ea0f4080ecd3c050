"""The arithmetic of char-RNN training, for benchmarks/charrnn.py's `rate` part: FLOPs per training target, written
out, and this machine's SGEMM rate measured with the same settings in the same process.

FLOPs per target of a many_to_many char-RNN (every position is a target), counting the GEMMs only (the gate
functions, the embedding lookup, softmax and the optimizer are a few FLOPs per weight or per unit, under 2% here):

    forward   layer l:  2 · G · H · (I_l + H)    G gates (lstm 4, gru 3, rnn 1), H hidden, I_0 the input width
                        (embedding_dim, or the vocabulary for one-hot), I_l = H above
              head:     2 · H · V                V the vocabulary
    backward  twice the forward: the gradient with respect to the weights and to the inputs, each one GEMM of
              the forward's size (for a one-hot input the input gradient is not computed: one GEMM less)
"""
from __future__ import annotations

import time

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def training_flops_per_target(cell: str, input_kind: str, embedding_dim: int, hidden: int, layers: int,
                              vocab: int) -> float:
    gates = GATES[cell]
    first_input = embedding_dim if input_kind == "embedding" else vocab
    forward = sum(2 * gates * hidden * ((first_input if layer == 0 else hidden) + hidden) for layer in range(layers))
    forward += 2 * hidden * vocab
    skipped = 2 * gates * hidden * first_input if input_kind == "one_hot" else 0  # no input gradient for one-hot
    return 3 * forward - skipped


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

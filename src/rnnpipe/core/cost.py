"""The arithmetic cost of training a recurrent model: FLOPs per training target, counting the GEMMs only.

    forward   layer l:  2 · G · H · (I_l + H)    G gates (lstm 4, gru 3, rnn 1), H hidden, I_0 the input width,
                                                 I_l = H above
              head:     2 · H · O                O outputs
    backward  twice the forward: the gradient with respect to the weights and to the inputs, each one GEMM of
              the forward's size (without an input gradient, as for a one-hot input, the first layer's is skipped)

The gate functions, embedding lookups, softmax and the optimizer add a few FLOPs per unit or per weight: under 2%
at the project's sizes (tests/core/test_cost.py compares with torch's own FLOP counter).
"""
from __future__ import annotations

from rnnpipe.core.params import GATES


def training_flops_per_target(cell: str, input_width: int, hidden: int, layers: int, outputs: int,
                              input_gradient: bool = True) -> float:
    gates = GATES[cell]
    forward = sum(2 * gates * hidden * ((input_width if layer == 0 else hidden) + hidden) for layer in range(layers))
    forward += 2 * hidden * outputs
    skipped = 0 if input_gradient else 2 * gates * hidden * input_width
    return 3 * forward - skipped

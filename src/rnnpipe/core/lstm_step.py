"""One step of FastLSTM's backward pass as one compiled loop, with the bits of its torch version.

A backward step of rnnpipe.core.lstm is 15 elementwise torch operations on 32 × 512 values each (the default
char-RNN): each reads and writes its operands once and costs more in dispatch than in arithmetic, and none is large
enough for ATen to split it across threads. Here the same arithmetic is one pass over the values, in the same order
per value: a product is IEEE's correctly rounded product wherever it is computed, and every `addcmul` that ATen
computes with a fused multiply-add (its AVX2 kernels do: measured, not assumed; tests/core/test_lstm.py compares
the two paths bit for bit) is `fmaf` here. The library is compiled with -ffp-contract=off, so the compiler fuses
nothing else. Nothing depends on the thread count (one thread) or on the compiler (no libm call, no reassociation).

`bash scripts/setup.sh` builds it with the system's C compiler (`python -m rnnpipe.core.lstm_step build`). Without
it, FastLSTM's backward runs its torch version: the same bytes, slower.
"""
from __future__ import annotations

import ctypes
import hashlib
import platform
import sys
from functools import lru_cache
from typing import Optional

from rnnpipe.core.clib import build_in_first_writable, library_candidates

SOURCE = r"""
#include <math.h>
#include <stddef.h>

/* One row of one backward step, value by value in the torch version's order (rnnpipe.core.lstm._torch_steps). */
static inline void row(long hidden, float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                       const float *restrict tc, const float *restrict cp, const float *restrict hb,
                       const float *restrict ob, const float *restrict cb, float *restrict nb) {
    for (long j = 0; j < hidden; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
        float h = ob ? hb[j] + ob[j] : hb[j];           /* dh.add_(d_out[t]) */
        float s = fmaf(-t, t, 1.0f) * o;                /* addcmul(ones, tanh_c, tanh_c, value=-1).mul_(o) */
        float c = fmaf(s, h, cb[j]);                    /* dc.addcmul_(scratch, dh) */
        float so = fmaf(-o, o, o);                      /* addcmul(o, o, o, value=-1) */
        float si = fmaf(-i, i, i), sf = fmaf(-f, f, f); /* addcmul(s_if, s_if, s_if, value=-1) */
        float sg = fmaf(-g, g, 1.0f) * i;               /* addcmul(ones, cell, cell, value=-1).mul_(i) */
        go[j] = (h * t) * so;                           /* mul(dh, tanh_c, out=o).mul_(scratch) */
        nb[j] = c * f;                                  /* mul(dc, f, out=dc_next) */
        gi[j] = (c * g) * si;                           /* mul(dc, cell, out=i), then s_if.mul_(scratch_if) */
        gf[j] = (c * cp[j]) * sf;                       /* mul(dc, c_prev, out=f), the same */
        gg[j] = c * sg;                                 /* mul(dc, scratch_g, out=cell) */
    }
}

/* gates: [batch, gate_stride] rows, blocks i, f, g, o of `hidden` values: read, then overwritten by their gradients.
   tanh_c, c_prev, dh, dc, dc_next: [batch, hidden], contiguous. d_out: rows of d_out_stride, or NULL.
   dc: the cell gradient entering the step (read); dc_next: the one leaving it (written). dh is only read. */
void lstm_backward_step(long batch, long hidden, long gate_stride, float *gates, const float *tanh_c,
                        const float *c_prev, const float *dh, const float *d_out, long d_out_stride,
                        const float *dc, float *dc_next) {
    for (long b = 0; b < batch; b++) {
        float *gi = gates + b * gate_stride;
        long at = b * hidden;
        if (d_out)  /* two copies of the loop, each without a branch inside: the compiler vectorises both */
            row(hidden, gi, gi + hidden, gi + 2 * hidden, gi + 3 * hidden, tanh_c + at, c_prev + at, dh + at,
                d_out + b * d_out_stride, dc + at, dc_next + at);
        else
            row(hidden, gi, gi + hidden, gi + 2 * hidden, gi + 3 * hidden, tanh_c + at, c_prev + at, dh + at,
                NULL, dc + at, dc_next + at);
    }
}
"""


def flags() -> list[str]:
    """-O3 vectorises the loop (the bits do not depend on it); on x86-64, fmaf is the FMA instruction of AVX2
    machines (the pinned numerics need AVX2 anyway) instead of libm's emulation."""
    x86 = platform.machine() in ("x86_64", "AMD64")
    return ["-O3", "-ffp-contract=off", *(["-mavx2", "-mfma"] if x86 else [])]


# Named after its source and flags: a library built from another version of them is never loaded.
LIBRARY = f"lstm-step-{hashlib.sha256(' '.join([SOURCE, *flags()]).encode()).hexdigest()[:16]}.so"
# ATen's kernels at these levels compute addcmul with a fused multiply-add, as the loop does; its scalar kernels (a
# CPU without AVX2, or ATEN_CPU_CAPABILITY=default) may not, and the loop's FMA instructions need AVX2's FMA.
FUSED_CAPABILITIES = ("AVX2", "AVX512")


@lru_cache(maxsize=1)
def load() -> Optional[ctypes.CDLL]:
    """The built library with its one function typed, or None: not built, or ATen's kernels in this process are not
    ones whose bits it reproduces."""
    import torch

    path = next((path for path in library_candidates(LIBRARY) if path.is_file()), None)
    if path is None or torch.backends.cpu.get_cpu_capability() not in FUSED_CAPABILITIES:
        return None
    try:
        library = ctypes.CDLL(str(path))
    except OSError:
        return None
    step = library.lstm_backward_step
    step.restype = None
    step.argtypes = [ctypes.c_long] * 3 + [ctypes.c_void_p] * 5 + [ctypes.c_long] + [ctypes.c_void_p] * 2
    return library


def main(argv: list[str]) -> int:
    """`python -m rnnpipe.core.lstm_step build`: build the library once (setup runs this); a note if it cannot."""
    if argv != ["build"]:
        print("usage: python -m rnnpipe.core.lstm_step build", file=sys.stderr)
        return 2
    if any(path.is_file() for path in library_candidates(LIBRARY)):
        return 0
    return build_in_first_writable(
        library_candidates(LIBRARY), SOURCE, flags(), built="FastLSTM's backward step as one compiled loop",
        unbuilt="{reason}; FastLSTM's backward pass runs its torch version (the same bytes, slower)")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

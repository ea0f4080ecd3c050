"""FastLSTM's steps as compiled loops, with the bits of their torch versions, on every thread the process has.

A step of rnnpipe.core.lstm is one GEMM and 7 (forward) or 15 (backward) elementwise torch operations on 32 × 512
values each (the default char-RNN): each reads and writes its operands once and costs more in dispatch than in
arithmetic, and ATen splits none but the tanh across threads (below 32,768 values). Here each step's elementwise
part is one pass over the rows of the batch, the rows shared among the threads (OpenMP, torch's own runtime), every
value computed as its torch version computes it:

- a product is IEEE's correctly rounded product wherever it is computed, and every `addcmul` that ATen computes
  with a fused multiply-add (its AVX2 kernels do: measured, not assumed) is `fmaf` here; the library is compiled
  with -ffp-contract=off, so the compiler fuses nothing else;
- forward only, and only where ATen runs its AVX2 kernels: the sigmoid is ATen's 1 / (1 + exp(-x)) with the same
  exp, SLEEF's `Sleef_expf8_u10` on whole 16-value blocks of a row and libm's `expf` on the rest, as ATen's
  vectorised loop does; the tanh is MKL's `vmsTanh` in the mode ATen calls it with, one row at a time, as ATen's
  loop calls it. Both are taken from torch's own library at load time, so they are the very functions ATen calls.

tests/core/test_lstm.py compares the two versions bit for bit. No value depends on another row, so the bits do not
depend on how many threads share the rows.

`bash scripts/setup.sh` builds it with the system's C compiler (`python -m rnnpipe.core.lstm_step build`). Without
it, FastLSTM runs its torch versions: the same bytes, slower.
"""
from __future__ import annotations

import ctypes
import hashlib
import platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

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
                        const float *dc, float *dc_next, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
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

#if defined(__AVX2__)
#include <immintrin.h>

/* torch's own functions (lstm_step_bind): SLEEF's exp on 8 floats, MKL's vmsTanh, MKL's per-thread thread count. */
static __m256 (*exp8)(__m256);
static void (*vms_tanh)(int, const float *, float *, long long);
static int (*mkl_threads_local)(int);
/* The mode ATen's vml.h calls MKL's functions with: VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE. */
#define ATEN_VML_MODE (0x00000002LL | 0x00140000LL | 0x00000100LL)

void lstm_step_bind(void *exp8_function, void *tanh_function, void *threads_function) {
    exp8 = (__m256 (*)(__m256))exp8_function;
    vms_tanh = (void (*)(int, const float *, float *, long long))tanh_function;
    mkl_threads_local = (int (*)(int))threads_function;
}

/* ATen's AVX2 sigmoid in place: 16 values per iteration as two vectors of 0 - x, exp, + 1, 1 / (IEEE's division),
   the values after the last whole 16 one by one with libm's expf (ATen's vectorised loop and its scalar tail). */
static void sigmoid(long n, float *x) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k += 8) {
            __m256 a = exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(x + i + k)));
            _mm256_storeu_ps(x + i + k, _mm256_div_ps(one, _mm256_add_ps(a, one)));
        }
    for (; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

/* The elementwise part of one forward step (rnnpipe.core.lstm._torch_forward_steps), its GEMM done:
   gates [batch, gate_stride] (pre-activations of i, f, g, o, activated in place); c_prev, c, tanh_c, h: [batch,
   hidden], contiguous; c, tanh_c and h written. */
void lstm_forward_step(long batch, long hidden, long gate_stride, float *gates, const float *c_prev, float *c,
                       float *tanh_c, float *h, int threads) {
    #pragma omp parallel num_threads(threads) if(threads > 1)
    {
        int mkl_threads = mkl_threads_local(1);  /* vmsTanh inside a parallel region: no team of its own */
        #pragma omp for schedule(static)
        for (long b = 0; b < batch; b++) {
            float *gi = gates + b * gate_stride, *gf = gi + hidden, *gg = gi + 2 * hidden, *go = gi + 3 * hidden;
            const float *cp = c_prev + b * hidden;
            float *cr = c + b * hidden, *tr = tanh_c + b * hidden, *hr = h + b * hidden;
            sigmoid(2 * hidden, gi);                                    /* gates[..., :2H].sigmoid_() */
            vms_tanh((int)hidden, gg, gg, ATEN_VML_MODE);               /* cell.tanh_() */
            sigmoid(hidden, go);                                        /* o.sigmoid_() */
            for (long j = 0; j < hidden; j++)
                cr[j] = fmaf(gi[j], gg[j], gf[j] * cp[j]);              /* mul(f, c_prev, out=c).addcmul_(i, g) */
            vms_tanh((int)hidden, cr, tr, ATEN_VML_MODE);               /* tanh(c, out=tanh_c) */
            for (long j = 0; j < hidden; j++)
                hr[j] = go[j] * tr[j];                                  /* mul(o, tanh_c, out=h) */
        }
        mkl_threads_local(mkl_threads);
    }
}
#endif
"""


def flags() -> list[str]:
    """-O3 vectorises the loops (the bits do not depend on it); on x86-64, fmaf is the FMA instruction of AVX2
    machines (the pinned numerics need AVX2 anyway) instead of libm's emulation. -fopenmp: the library needs
    libgomp.so.1, which is torch's own once torch is loaded (load() loads it first), so its threads are torch's."""
    x86 = platform.machine() in ("x86_64", "AMD64")
    return ["-O3", "-ffp-contract=off", "-fopenmp", *(["-mavx2", "-mfma"] if x86 else [])]


# Named after its source and flags: a library built from another version of them is never loaded.
LIBRARY = f"lstm-step-{hashlib.sha256(' '.join([SOURCE, *flags()]).encode()).hexdigest()[:16]}.so"
# ATen's kernels at these levels compute addcmul with a fused multiply-add, as the loops do; its scalar kernels (a
# CPU without AVX2, or ATEN_CPU_CAPABILITY=default) may not, and the loops' FMA instructions need AVX2's FMA.
FUSED_CAPABILITIES = ("AVX2", "AVX512")
# The forward step's sigmoid is ATen's AVX2 one (vectors of 8); its AVX-512 kernels use vectors of 16.
FORWARD_CAPABILITY = "AVX2"
# What the forward step takes from torch's library: the functions ATen's AVX2 kernels call.
TORCH_FUNCTIONS = ("Sleef_expf8_u10", "vmsTanh", "MKL_Set_Num_Threads_Local")


@lru_cache(maxsize=1)
def load() -> Optional[ctypes.CDLL]:
    """The built library with its functions typed, or None: not built, or ATen's kernels in this process are not
    ones whose bits it reproduces. Its `forward` attribute: lstm_forward_step where it reproduces ATen's bits too,
    else None."""
    import torch

    path = next((path for path in library_candidates(LIBRARY) if path.is_file()), None)
    capability = torch.backends.cpu.get_cpu_capability()
    if path is None or capability not in FUSED_CAPABILITIES:
        return None
    try:
        library = ctypes.CDLL(str(path))
    except OSError:
        return None
    step = library.lstm_backward_step
    step.restype = None
    step.argtypes = ([ctypes.c_long] * 3 + [ctypes.c_void_p] * 5 + [ctypes.c_long] + [ctypes.c_void_p] * 2
                     + [ctypes.c_int])
    library.forward = _bind_forward(library) if capability == FORWARD_CAPABILITY else None
    return library


def _bind_forward(library: ctypes.CDLL) -> Optional[Any]:
    """lstm_forward_step typed and given torch's functions, or None where this torch lacks one of them."""
    import torch

    try:
        aten = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))  # loaded: torch's own
        functions = [ctypes.cast(getattr(aten, name), ctypes.c_void_p) for name in TORCH_FUNCTIONS]
        step = library.lstm_forward_step
    except (OSError, AttributeError):
        return None
    library.lstm_step_bind.restype = None
    library.lstm_step_bind.argtypes = [ctypes.c_void_p] * 3
    library.lstm_step_bind(*functions)
    step.restype = None
    step.argtypes = [ctypes.c_long] * 3 + [ctypes.c_void_p] * 5 + [ctypes.c_int]
    return step


def main(argv: list[str]) -> int:
    """`python -m rnnpipe.core.lstm_step build`: build the library once (setup runs this); a note if it cannot."""
    if argv != ["build"]:
        print("usage: python -m rnnpipe.core.lstm_step build", file=sys.stderr)
        return 2
    if any(path.is_file() for path in library_candidates(LIBRARY)):
        return 0
    return build_in_first_writable(
        library_candidates(LIBRARY), SOURCE, flags(), built="FastLSTM's steps as compiled loops",
        unbuilt="{reason}; FastLSTM runs its torch versions (the same bytes, slower)")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""FastLSTM's step loops compiled, with the bits of their torch versions, on every thread the process has.

A step of rnnpipe.core.lstm is one GEMM and 7 (forward) or 15 (backward) elementwise torch operations on 32 × 512
values each (the default char-RNN): each reads and writes its operands once and costs more in dispatch than in
arithmetic, and ATen splits none but the tanh across threads (below 32,768 values). Here a whole pass over a
sequence is one call: per step, the GEMM is the very BLAS call ATen makes for it (MKL's `sgemm_`, the same
arguments), and the elementwise part is one pass over the rows of the batch, the rows shared among the threads
(OpenMP, torch's own runtime), every value computed as its torch version computes it:

- a product is IEEE's correctly rounded product wherever it is computed, and every `addcmul` that ATen computes
  with a fused multiply-add (its AVX2 kernels do: measured, not assumed) is `fmaf` here; the library is compiled
  with -ffp-contract=off, so the compiler fuses nothing else;
- forward only, and only where ATen runs its AVX2 kernels: the sigmoid is ATen's 1 / (1 + exp(-x)) with the same
  exp, SLEEF's `Sleef_expf8_u10` on whole 16-value blocks of a row and libm's `expf` on the rest, as ATen's
  vectorised loop does; the tanh is MKL's `vmsTanh` in the mode ATen calls it with, one row at a time, as ATen's
  loop calls it.

The GEMM, exp and tanh are taken from torch's own library at load time, so they are the very functions ATen calls.
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
from typing import Optional

from rnnpipe.core.clib import build_in_first_writable, library_candidates

SOURCE = r"""
#include <math.h>
#include <stddef.h>

/* The BLAS GEMM that ATen calls (MKL's sgemm_, column-major), from torch's library (lstm_step_bind). */
typedef void (*sgemm_function)(const char *, const char *, const int *, const int *, const int *, const float *,
                               const float *, const int *, const float *, const int *, const float *, float *,
                               const int *);
static sgemm_function sgemm;

/* One row of one backward step, value by value in the torch version's order (lstm._torch_backward_steps). */
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

/* The elementwise part of one backward step. gates: [batch, 4 hidden] rows, blocks i, f, g, o: read, then
   overwritten by their gradients. tanh_c, c_prev, dh, dc, dc_next: [batch, hidden]. d_out: rows of d_out_row values,
   or NULL. dc: the cell gradient entering the step (read); dc_next: the one leaving it (written). */
static void backward_step(long batch, long hidden, float *gates, const float *tanh_c, const float *c_prev,
                          const float *dh, const float *d_out, long d_out_row, const float *dc, float *dc_next,
                          int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
    for (long b = 0; b < batch; b++) {
        float *gi = gates + b * 4 * hidden;
        long at = b * hidden;
        if (d_out)  /* two copies of the loop, each without a branch inside: the compiler vectorises both */
            row(hidden, gi, gi + hidden, gi + 2 * hidden, gi + 3 * hidden, tanh_c + at, c_prev + at, dh + at,
                d_out + b * d_out_row, dc + at, dc_next + at);
        else
            row(hidden, gi, gi + hidden, gi + 2 * hidden, gi + 3 * hidden, tanh_c + at, c_prev + at, dh + at,
                NULL, dc + at, dc_next + at);
    }
}

/* The backward loop (rnnpipe.core.lstm._torch_backward_steps), from the last step to the first: each step's gate
   gradients into its place in `gates` [steps, batch, 4 hidden], then dh = dgates_t @ W_hh ([4 hidden, hidden]) as
   ATen's torch.mm(dgates_t, w_hh, out=dh) calls its BLAS. tanh_cs [steps, batch, hidden], cs [steps + 1, ...]:
   contiguous. d_out: step t's rows at d_out + t * d_out_step, or NULL. dh and dc hold the gradients entering the last
   step; dc_next is scratch. Returns 0 when dc holds the cell gradient leaving the first step, 1 when dc_next does. */
int lstm_backward(long steps, long batch, long hidden, float *gates, const float *tanh_cs, const float *cs,
                  const float *w_hh, float *dh, const float *d_out, long d_out_step, long d_out_row, float *dc,
                  float *dc_next, int threads) {
    const int m = (int)hidden, n = (int)batch, k = (int)(4 * hidden);
    const float one = 1.0f, zero = 0.0f;
    long bh = batch * hidden;
    for (long t = steps - 1; t >= 0; t--) {
        float *g = gates + t * batch * 4 * hidden, *swap;
        backward_step(batch, hidden, g, tanh_cs + t * bh, cs + t * bh, dh, d_out ? d_out + t * d_out_step : NULL,
                      d_out_row, dc, dc_next, threads);
        swap = dc, dc = dc_next, dc_next = swap;
        sgemm("N", "N", &m, &n, &k, &one, w_hh, &m, g, &k, &zero, dh, &m);
    }
    return (int)(steps % 2);
}

#if defined(__AVX2__)
#include <immintrin.h>

/* More of torch's own functions: SLEEF's exp on 8 floats, MKL's vmsTanh, MKL's per-thread thread count. */
static __m256 (*exp8)(__m256);
static void (*vms_tanh)(int, const float *, float *, long long);
static int (*mkl_threads_local)(int);
/* The mode ATen's vml.h calls MKL's functions with: VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE. */
#define ATEN_VML_MODE (0x00000002LL | 0x00140000LL | 0x00000100LL)

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

/* The elementwise part of one forward step (rnnpipe.core.lstm._torch_forward_steps), its GEMM done: gates [batch,
   4 hidden] (pre-activations of i, f, g, o, activated in place); c_prev, c, tanh_c, h: [batch, hidden]; c, tanh_c
   and h written. */
static void forward_step(long batch, long hidden, float *gates, const float *c_prev, float *c, float *tanh_c,
                         float *h, int threads) {
    #pragma omp parallel num_threads(threads) if(threads > 1)
    {
        int mkl_threads = mkl_threads_local(1);  /* vmsTanh inside a parallel region: no team of its own */
        #pragma omp for schedule(static)
        for (long b = 0; b < batch; b++) {
            float *gi = gates + b * 4 * hidden, *gf = gi + hidden, *gg = gi + 2 * hidden, *go = gi + 3 * hidden;
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

/* The forward loop: per step, gates_t += h_{t-1} @ W_hh^T as ATen's gates_t.addmm_(h_prev, w_hh.t()) calls its
   BLAS, then the step's elementwise part. gates [steps, batch, 4 hidden] (the input part and biases already in);
   hs, cs [steps + 1, batch, hidden] (hs[0], cs[0]: the initial state); tanh_cs [steps, batch, hidden]. */
void lstm_forward(long steps, long batch, long hidden, float *gates, float *hs, float *cs, float *tanh_cs,
                  const float *w_hh, int threads) {
    const int m = (int)(4 * hidden), n = (int)batch, k = (int)hidden;
    const float one = 1.0f;
    long bh = batch * hidden;
    for (long t = 0; t < steps; t++) {
        float *g = gates + t * batch * 4 * hidden;
        sgemm("T", "N", &m, &n, &k, &one, w_hh, &k, hs + t * bh, &k, &one, g, &m);
        forward_step(batch, hidden, g, cs + t * bh, cs + (t + 1) * bh, tanh_cs + t * bh, hs + (t + 1) * bh, threads);
    }
}
#endif

void lstm_step_bind(void *sgemm_, void *exp8_, void *tanh_, void *threads_local_) {
    sgemm = (sgemm_function)sgemm_;
#if defined(__AVX2__)
    exp8 = (__m256 (*)(__m256))exp8_;
    vms_tanh = (void (*)(int, const float *, float *, long long))tanh_;
    mkl_threads_local = (int (*)(int))threads_local_;
#endif
}
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
# What the loops take from torch's library: the functions ATen's own kernels call.
TORCH_FUNCTIONS = ("sgemm_", "Sleef_expf8_u10", "vmsTanh", "MKL_Set_Num_Threads_Local")


@lru_cache(maxsize=1)
def load() -> Optional[ctypes.CDLL]:
    """The built library with its loops typed and given torch's functions, or None: not built, this torch lacks one
    of TORCH_FUNCTIONS, or ATen's kernels in this process are not ones whose bits the loops reproduce. Its
    `backward` attribute: the backward loop; `forward`: the forward loop where it reproduces ATen's bits too (ATen's
    AVX2 kernels), else None."""
    import torch

    path = next((path for path in library_candidates(LIBRARY) if path.is_file()), None)
    capability = torch.backends.cpu.get_cpu_capability()
    if path is None or capability not in FUSED_CAPABILITIES:
        return None
    try:
        library = ctypes.CDLL(str(path))
        aten = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))  # loaded: torch's own
        functions = [ctypes.cast(getattr(aten, name), ctypes.c_void_p) for name in TORCH_FUNCTIONS]
    except (OSError, AttributeError):
        return None
    library.lstm_step_bind.restype = None
    library.lstm_step_bind.argtypes = [ctypes.c_void_p] * 4
    library.lstm_step_bind(*functions)
    backward = library.lstm_backward
    backward.restype = ctypes.c_int
    backward.argtypes = ([ctypes.c_long] * 3 + [ctypes.c_void_p] * 6 + [ctypes.c_long] * 2 + [ctypes.c_void_p] * 2
                         + [ctypes.c_int])
    library.backward = backward
    library.forward = None
    if capability == FORWARD_CAPABILITY and hasattr(library, "lstm_forward"):
        library.forward = library.lstm_forward
        library.forward.restype = None
        library.forward.argtypes = [ctypes.c_long] * 3 + [ctypes.c_void_p] * 5 + [ctypes.c_int]
    return library


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

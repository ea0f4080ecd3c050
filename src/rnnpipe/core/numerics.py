"""The process's numerics, set once at its start: instruction sets and threads from params.yaml `runtime`.

Only entry points import this module (the stage entry rnnpipe.stage, benchmarks/*.py, tests/conftest.py), because it
may restart the interpreter; tests/test_numerics_layering.py keeps every library module off it.

The bits of a float computation depend on which instruction-set path each library takes: ATen's vector kernels
(ATEN_CPU_CAPABILITY), MKL's GEMM (MKL_CBWR), oneDNN (ONEDNN_MAX_CPU_ISA), numpy's SIMD loops
(NPY_ENABLE_CPU_FEATURES) and OpenBLAS (OPENBLAS_CORETYPE). Each library reads its setting once, when it loads, so
`apply_runtime()` runs before torch or numpy is imported: it overrides whatever the shell set, loads torch and
checks that the settings took. Why the thread count does not change the bits: rnnpipe.core.determinism.

MKL also picks its paths by CPU vendor: on AMD it ignores MKL_CBWR's branch. `apply_runtime()` restarts the process
once with a one-line library preloaded that makes MKL take its Intel paths (rnnpipe.core.intel_paths), so the bytes
match an Intel machine's there too.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

from rnnpipe.core.cpu import check_supported
from rnnpipe.core.errors import ParamsError
from rnnpipe.core.intel_paths import ensure_intel_paths, started_environment
from rnnpipe.core.params import RuntimeParams
from rnnpipe.core.threads import max_threads

# Per level, the setting of each library (isa: native sets none of them).
ISA_SETTINGS: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "NPY_ENABLE_CPU_FEATURES": "X86_V3", "OPENBLAS_CORETYPE": "Haswell"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
               "NPY_ENABLE_CPU_FEATURES": "X86_V3 X86_V4", "OPENBLAS_CORETYPE": "SkylakeX"},
}
ISA_CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512"}  # what torch.backends.cpu.get_cpu_capability() says
# Variables apply_runtime() controls: the ones above, and others that would change a library's path (removed).
PINNED_VARIABLES = sorted({name for settings in ISA_SETTINGS.values() for name in settings}
                          | {"MKL_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA"})


def environment(runtime: RuntimeParams) -> dict[str, str | None]:
    """The environment variables these settings mean (None: removed). With isa: native the instruction-set
    variables are left as the shell set them: the libraries pick, or whatever you exported decides."""
    threads = str(max_threads(runtime.threads))
    env: dict[str, str | None] = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": "1"}
    if runtime.isa != "native":
        env.update({name: ISA_SETTINGS[runtime.isa].get(name) for name in PINNED_VARIABLES})
    return env


def started_with(runtime: RuntimeParams, env: Mapping[str, str]) -> dict[str, str]:
    """The whole environment a process started with `env` has once apply_runtime(runtime) is done: the settings
    above applied, then the Intel-paths library preloaded where this CPU needs it."""
    result = dict(env)
    for name, value in environment(runtime).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return started_environment(runtime.isa, result)


# What the numeric libraries read when they load: two processes with equal values loaded them alike.
READ_AT_LOAD = (*PINNED_VARIABLES, "LD_PRELOAD")


def apply_runtime(runtime: RuntimeParams) -> None:
    """Fix instruction sets and threads for every numeric library (restarting the process once where MKL needs its
    Intel-paths library preloaded), then load torch with them and check."""
    env = environment(runtime)
    if "torch" in sys.modules or "numpy" in sys.modules:
        if any(os.environ.get(name) != value for name, value in env.items()):
            raise RuntimeError("rnnpipe.core.numerics.apply_runtime() must run before torch or numpy is imported")
    else:
        check_supported(runtime.isa)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        ensure_intel_paths(runtime.isa)  # on a non-Intel CPU: restarts this process once (rnnpipe.core.intel_paths)
    import torch

    torch.set_num_threads(max_threads(runtime.threads))
    if runtime.isa != "native":
        torch.backends.mkldnn.enabled = False  # oneDNN's LSTM blocking depends on the thread count and L2 size
    expected, actual = ISA_CAPABILITY.get(runtime.isa), torch.backends.cpu.get_cpu_capability()
    if expected is not None and actual != expected:
        raise ParamsError(f"params.yaml: runtime.isa = {runtime.isa!r} did not take effect: torch runs {actual} "
                          "kernels; allowed here is native")


"""Numerics that must not drift, fixed in one place before torch or numpy loads.

The bits of a float computation depend on which instruction-set path each library takes: ATen's vector kernels
(ATEN_CPU_CAPABILITY), MKL's GEMM (MKL_CBWR), oneDNN (ONEDNN_MAX_CPU_ISA), numpy's SIMD loops
(NPY_ENABLE_CPU_FEATURES) and OpenBLAS (OPENBLAS_CORETYPE). Each library reads its setting once, when it loads, so
`pin()` runs first: it overrides whatever the shell set, loads torch and checks that the settings took.

The thread count does not change the bits, by construction: MKL's strict reproducibility mode (`,STRICT`) makes its
GEMMs independent of the thread count; oneDNN is turned off, because its LSTM picks its blocking from the thread
count and the size of the CPU's L2 cache; OpenBLAS (numpy's least squares) runs on one thread; and the project never
sums more than ATen's grain size (32768 values) in one torch reduction, which is where ATen would split a sum by
thread (`invariant_mean`). tests/integration/test_reproducibility.py runs the pipeline with different thread counts
and instruction-set settings in the outside environment and compares every output byte.

MKL also picks its paths by CPU vendor: on AMD it ignores MKL_CBWR's branch. `pin()` restarts the process once with
a one-line library preloaded that makes MKL take its Intel paths (rnnpipe.core.mkl_vendor), so the bytes match an
Intel machine's there too.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Optional

from rnnpipe.core.errors import ParamsError
from rnnpipe.core.mkl_vendor import cpuinfo_field, ensure_intel_paths
from rnnpipe.core.params import Isa, Params, RuntimeParams, load_params

if TYPE_CHECKING:
    import torch

# Per level, the setting of each library (isa: native sets none of them).
ISA_SETTINGS: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "NPY_ENABLE_CPU_FEATURES": "X86_V3", "OPENBLAS_CORETYPE": "Haswell"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
               "NPY_ENABLE_CPU_FEATURES": "X86_V3 X86_V4", "OPENBLAS_CORETYPE": "SkylakeX"},
}
ISA_FLAGS: dict[str, tuple[str, ...]] = {  # what the level needs, as /proc/cpuinfo names it
    "avx2": ("avx2", "fma", "bmi2"),
    "avx512": ("avx2", "fma", "bmi2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"),
}
ISA_CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512"}  # what torch.backends.cpu.get_cpu_capability() says
# Variables pin() controls: the ones above, and others that would change a library's path (removed).
PINNED_VARIABLES = sorted({name for settings in ISA_SETTINGS.values() for name in settings}
                          | {"MKL_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA"})
# ATen splits a full reduction across threads only above this many values (at::internal::GRAIN_SIZE).
GRAIN_SIZE = 32768


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def max_threads(threads: int | Literal["auto"]) -> int:
    return available_cores() if threads == "auto" else threads


def environment(runtime: RuntimeParams) -> dict[str, str | None]:
    """The environment variables these settings mean (None: removed). With isa: native the instruction-set
    variables are left as the shell set them: the libraries pick, or whatever you exported decides."""
    threads = str(max_threads(runtime.threads))
    env: dict[str, str | None] = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": "1"}
    if runtime.isa != "native":
        env.update({name: ISA_SETTINGS[runtime.isa].get(name) for name in PINNED_VARIABLES})
    return env


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    return set((cpuinfo_field("flags", cpuinfo) or "").split())


def check_supported(isa: Isa, machine: str | None = None, flags: set[str] | None = None) -> None:
    """A level the CPU cannot run would silently fall back to another code path: refuse it in one line."""
    if isa == "native":
        return
    machine = machine or platform.machine()
    if machine not in ("x86_64", "AMD64"):
        where = f"a {machine} CPU"
    else:
        missing = [flag for flag in ISA_FLAGS[isa] if flag not in (cpu_flags() if flags is None else flags)]
        if not missing:
            return
        where = f"this CPU (it lacks {', '.join(missing)})"
    raise ParamsError(f"params.yaml: runtime.isa = {isa!r} is not available on {where}: allowed here is native "
                      "(set runtime.isa: native; the outputs then differ from a dvc.lock made with avx2)")


def pin(runtime: RuntimeParams) -> None:
    """Fix instruction sets and threads for every numeric library, then load torch with them and check."""
    env = environment(runtime)
    if "torch" in sys.modules or "numpy" in sys.modules:
        if any(os.environ.get(name) != value for name, value in env.items()):
            raise RuntimeError("rnnpipe.core.runtime.pin() must run before torch or numpy is imported")
    else:
        check_supported(runtime.isa)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        ensure_intel_paths(runtime.isa)  # on a non-Intel CPU: restarts this process once (rnnpipe.core.mkl_vendor)
    import torch

    torch.set_num_threads(max_threads(runtime.threads))
    if runtime.isa != "native":
        torch.backends.mkldnn.enabled = False  # oneDNN's LSTM blocking depends on the thread count and L2 size
    expected, actual = ISA_CAPABILITY.get(runtime.isa), torch.backends.cpu.get_cpu_capability()
    if expected is not None and actual != expected:
        raise ParamsError(f"params.yaml: runtime.isa = {runtime.isa!r} did not take effect: torch runs {actual} "
                          "kernels; allowed here is native")


def pin_numerics(path: str | Path = "params.yaml") -> Params:
    """A stage's first line: validate params.yaml and pin its `runtime` before torch loads; any problem is one
    `error:` line and exit code 1."""
    from rnnpipe.core.stage import run_stage

    def start() -> Params:
        params = load_params(path)
        pin(params.runtime)
        return params

    return run_stage(start)


def configure_determinism(seed: int) -> None:
    """Same seed, same bytes: deterministic kernels and the seed (threads and instruction sets: see pin)."""
    import torch

    torch.use_deterministic_algorithms(True)
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


def thread_policy(runtime: RuntimeParams) -> Optional["LoadAwareThreads"]:
    """threads: auto adapts to the machine's load while training; a fixed count stays fixed."""
    return LoadAwareThreads(max_threads("auto")) if runtime.threads == "auto" else None


class LoadAwareThreads:
    """Chooses torch's thread count batch by batch, from the measured time per training target.

    Threads that wait on each other at every time step stall when another program takes one of their cores: with
    one busy process beside it, two threads train at a third of their quiet speed, one thread at more than half.
    So it tries one thread fewer once at the start (the machine may be busy already), and again whenever batches
    run `slowdown` times slower than the fastest seen at this count, and keeps it when faster; below the most, it
    tries one more now and then, less often each time that loses. On a quiet machine that is one trial of a few
    batches per training. Changing the count mid-training is allowed only because the results do not depend on it
    (see the module docstring); nothing of it reaches an output.
    """

    def __init__(self, most: int, slowdown: float = 1.4, patience: int = 3, trial: int = 3, recheck: int = 40,
                 apply: Optional[Callable[[int], None]] = None):
        self.most = self.current = most
        self.slowdown, self.patience, self.trial_length = slowdown, patience, trial
        self.first_recheck = self.recheck = recheck
        self.apply = apply
        self.best: dict[int, float] = {}             # the fastest seconds per target seen at each count
        self.recent: dict[int, list[float]] = {}     # the last few steady figures at each count
        self.slow_batches = 0
        self.since_change = 0
        self.batches = 0
        self.explored = most == 1
        self.trial_from: Optional[int] = None
        self.trial_times: list[float] = []
        self.switches: list[tuple[int, int]] = []  # (batch, new count): for the log

    def after_batch(self, seconds: float, targets: int) -> None:
        self.batches += 1
        self.since_change += 1
        if targets <= 0 or self.since_change == 1:
            return  # the first batch after a change pays for starting the new thread team: not a fair sample
        per_target = seconds / targets
        if self.trial_from is not None:
            self.trial_times.append(per_target)
            if len(self.trial_times) >= self.trial_length:
                self._end_trial()
            return
        n = self.current
        self.recent[n] = (self.recent.get(n, []) + [per_target])[-5:]
        self.best[n] = min(self.best.get(n, per_target), per_target)
        self.slow_batches = self.slow_batches + 1 if per_target > self.slowdown * self.best[n] else 0
        if n > 1 and (self.slow_batches >= self.patience or not self.explored and self.since_change > self.patience):
            self.explored = True
            self._start_trial(n - 1)
        elif n < self.most and self.since_change > self.recheck:
            self._start_trial(n + 1)

    def _set(self, threads: int) -> None:
        if threads != self.current:
            if self.apply is not None:
                self.apply(threads)
            else:
                import torch

                torch.set_num_threads(threads)
            self.current = threads
            self.switches.append((self.batches, threads))
        self.since_change = 0

    def _start_trial(self, threads: int) -> None:
        self.trial_from, self.trial_times, self.slow_batches = self.current, [], 0
        self._set(threads)

    def _end_trial(self) -> None:
        tried, start = self.current, self.trial_from
        measured = _median(self.trial_times)  # medians: one noisy batch decides nothing
        self.trial_from, self.trial_times = None, []
        self.best[tried] = min(self.best.get(tried, measured), measured)
        if measured < 0.9 * _median(self.recent.get(start, [float("inf")])):
            self.recent[tried] = [measured]
            self.recheck = self.first_recheck
            return  # clearly faster: keep it
        self._set(start)
        if tried > start:
            self.recheck = min(self.recheck * 2, 160)  # more threads lost again: look less often


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]

"""Builds and preloads a one-line library that makes MKL take its Intel code paths on every x86-64 CPU, so a pinned
run gives Intel's bytes on AMD too.

MKL picks its code path by CPU vendor as well as by instruction set: on a CPU that is not "GenuineIntel" it ignores
MKL_CBWR's branch (its documentation: "On non-Intel CPUs ... the AUTO branch is used instead") and runs other
kernels for matrix-vector products, small GEMMs and its vector math (exp, log, sqrt, erf). Measured on an AMD EPYC
(Zen 4) with isa: avx2: torch.mm of [32, 64] @ [64, 1], torch.exp and torch.sqrt give other last bits than with
Intel's paths, and train_forecaster's outputs differ from a dvc.lock made on an Intel CPU from epoch 1 on.

MKL asks one exported function whether the CPU is Intel's: `mkl_serv_intel_cpu_true`. A one-line library that
answers 1, preloaded (LD_PRELOAD), makes MKL take its Intel paths; MKL_CBWR's AVX2 branch then runs the same
kernels as on an Intel CPU, which every AVX2 CPU can execute. With it, `dvc repro --force` on that AMD machine left
every outs md5 of a dvc.lock made on an Intel Sapphire Rapids as it was.

`bash scripts/setup.sh` builds the library on a non-Intel CPU (`python -m rnnpipe.core.intel_paths build`, with
the system's C compiler); `ensure_intel_paths`, called by rnnpipe.core.numerics at a process's start, restarts
the process once with it preloaded. Without a C compiler the run goes on with MKL's own paths and says, in one
line, that its bytes will differ from an Intel machine's.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Optional

from rnnpipe.core import clib
from rnnpipe.core.cpu import cpu_vendor

INTEL = "GenuineIntel"
SOURCE = "int mkl_serv_intel_cpu_true(void) { return 1; }\n"
LIBRARY = "mkl-intel-paths.so"
RESTARTED = "RNNPIPE_MKL_INTEL_PATHS_RESTARTED"  # set across the one restart, so it can never loop


def needs_intel_paths(isa: str, vendor: Optional[str]) -> bool:
    """Only a pinned instruction set on an x86 CPU of another vendor needs the library (native pins nothing)."""
    return isa != "native" and vendor is not None and vendor != INTEL


def library_candidates() -> list[Path]:
    """Where the built library lives: the environment's own lib/ (the project's .venv), else the user's cache."""
    return clib.library_candidates(LIBRARY)


def find_library() -> Optional[Path]:
    return next((path for path in library_candidates() if path.is_file()), None)


def build(destination: Path, compiler: Optional[str] = None) -> Path:
    """Compile SOURCE into a shared library at `destination` (written whole or not at all)."""
    return clib.build(destination, SOURCE, compiler=compiler)


def is_loaded(library: Path, maps: Path = Path("/proc/self/maps")) -> bool:
    """Whether this process has `library` mapped (LD_PRELOAD names it and the loader took it)."""
    try:
        return str(library.resolve()) in maps.read_text(errors="replace")
    except OSError:
        return False


def preloading(library: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The variables that start a process with the library preloaded, once (what the restart sets)."""
    preload = env.get("LD_PRELOAD", "")
    return {"LD_PRELOAD": f"{library}:{preload}" if preload else str(library), RESTARTED: "1"}


def started_environment(isa: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a process started with `env` runs its numeric libraries under once ensure_intel_paths is
    done: `env` itself, or `env` with the library preloaded."""
    library = find_library()
    if not needs_intel_paths(isa, cpu_vendor()) or library is None or env.get(RESTARTED):
        return dict(env)
    return {**env, **preloading(library, env)}


def ensure_intel_paths(isa: str) -> None:
    """Before torch loads: on a non-Intel CPU with a pinned isa, restart this process once with the library
    preloaded; without the library, one line on stderr says the bytes will differ from an Intel machine's."""
    vendor = cpu_vendor()
    if not needs_intel_paths(isa, vendor):
        return
    library = find_library()
    if library is not None and is_loaded(library):
        return
    restartable = sys.argv[0] not in ("", "-")  # a script, -m or -c; not an interactive or stdin session
    if library is None or os.environ.get(RESTARTED) or not restartable:
        why = ("its library is not built: `bash scripts/setup.sh` builds it (needs a C compiler, e.g. apt-get "
               "install gcc)" if library is None else f"preloading {library} did not take" if restartable
               else f"start Python with LD_PRELOAD={library} (an interactive or stdin session cannot restart)")
        print(f"warning: this {vendor} CPU makes MKL take its non-Intel code paths, so outputs will differ from "
              f"a dvc.lock made on an Intel CPU; {why}", file=sys.stderr)
        return
    os.environ.update(preloading(library, os.environ))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str]) -> int:
    """`python -m rnnpipe.core.intel_paths build`: build the library where this CPU needs it (setup runs this)."""
    if argv != ["build"]:
        print("usage: python -m rnnpipe.core.intel_paths build", file=sys.stderr)
        return 2
    vendor = cpu_vendor()
    if not needs_intel_paths("avx2", vendor):
        return 0  # an Intel CPU (or not x86 Linux): MKL takes its Intel paths by itself
    if find_library() is not None:
        return 0
    return clib.build_in_first_writable(
        library_candidates(), SOURCE, ("-O2",), built=f"MKL takes its Intel code paths on this {vendor} CPU",
        unbuilt=f"this {vendor} CPU needs {LIBRARY} for Intel's output bytes, and {{reason}}; the pipeline runs "
                "without it, its outputs then differ from an Intel machine's")

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

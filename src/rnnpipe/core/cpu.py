"""What this CPU is and what it can run, from /proc/cpuinfo: its vendor, its flags, and whether a runtime.isa level
is available on it (a level it cannot run would silently fall back to another code path)."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Optional

from rnnpipe.core.errors import ParamsError
from rnnpipe.core.params import Isa

ISA_FLAGS: dict[str, tuple[str, ...]] = {  # what the level needs, as /proc/cpuinfo names it
    "avx2": ("avx2", "fma", "bmi2"),
    "avx512": ("avx2", "fma", "bmi2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"),
}


def cpuinfo_field(name: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> Optional[str]:
    """The first non-empty value of `name` in /proc/cpuinfo ("vendor_id", "flags", ...); None where there is none."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name and value.strip():
            return value.strip()
    return None


def cpu_vendor(cpuinfo: Path = Path("/proc/cpuinfo")) -> Optional[str]:
    """The CPU's vendor_id ("GenuineIntel", "AuthenticAMD", ...); None where /proc/cpuinfo does not say one."""
    return cpuinfo_field("vendor_id", cpuinfo)


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

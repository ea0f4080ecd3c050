"""Tests for MKL's Intel paths on other CPUs (rnnpipe.core.intel_paths): vendor, when it applies, the library."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnpipe.core import clib, intel_paths
from rnnpipe.core.cpu import cpu_vendor
from rnnpipe.core.intel_paths import INTEL, LIBRARY, build, is_loaded, needs_intel_paths

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc or gcc) on this machine to build the library")


def test_cpu_vendor_reads_the_first_vendor_id(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\nprocessor\t: 1\n"
                    "vendor_id\t: AuthenticAMD\n")
    assert cpu_vendor(info) == "AuthenticAMD"


@pytest.mark.parametrize("text", ["processor\t: 0\nCPU implementer\t: 0x41\n", "vendor_id\t:\n", ""])
def test_cpu_vendor_is_none_where_the_file_names_no_vendor(tmp_path, text):
    info = tmp_path / "cpuinfo"
    info.write_text(text)
    assert cpu_vendor(info) is None
    assert cpu_vendor(tmp_path / "missing") is None


@pytest.mark.parametrize("isa, vendor, needed", [
    ("avx2", "AuthenticAMD", True), ("avx512", "HygonGenuine", True), ("avx2", INTEL, False),
    ("native", "AuthenticAMD", False), ("avx2", None, False),
])
def test_only_a_pinned_isa_on_another_vendors_cpu_needs_the_library(isa, vendor, needed):
    assert needs_intel_paths(isa, vendor) is needed


@needs_cc
def test_the_built_library_answers_that_the_cpu_is_intels(tmp_path):
    path = build(tmp_path / "lib" / LIBRARY)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert ctypes.CDLL(str(path)).mkl_serv_intel_cpu_true() == 1


def test_build_without_a_compiler_says_so_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(clib.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no C compiler found"):
        build(tmp_path / LIBRARY)
    assert not (tmp_path / LIBRARY).exists()


def test_a_failing_compiler_leaves_no_library(tmp_path):
    with pytest.raises(RuntimeError, match="could not build"):
        build(tmp_path / LIBRARY, compiler="false")
    assert not list(tmp_path.iterdir())


@needs_cc
def test_is_loaded_tells_a_preloaded_library_from_one_that_is_not(tmp_path):
    path = build(tmp_path / LIBRARY)
    assert not is_loaded(path)
    code = "import sys; from pathlib import Path; from rnnpipe.core.intel_paths import is_loaded; " \
           "print(is_loaded(Path(sys.argv[1])))"
    done = subprocess.run([sys.executable, "-c", code, str(path)], env={"LD_PRELOAD": str(path), "PYTHONPATH":
                          str(Path(intel_paths.__file__).parents[2])}, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_on_another_vendors_cpu_the_pinned_test_process_runs_with_mkls_intel_paths():
    """tests/conftest.py pins like a stage; on a non-Intel CPU that restarted this process with the library."""
    from rnnpipe.params import load_params

    isa = load_params(Path(__file__).resolve().parents[2] / "params.yaml").runtime.isa
    vendor = cpu_vendor()
    if not needs_intel_paths(isa, vendor):
        pytest.skip(f"this CPU ({vendor}) with isa {isa} needs no library: MKL takes its Intel paths by itself")
    library = intel_paths.find_library()
    if library is None:
        pytest.skip(f"{LIBRARY} is not built on this {vendor} machine (no C compiler when setup ran)")
    assert is_loaded(library)


PROBE = ("import hashlib, torch; a = torch.linspace(-1, 1, 32 * 64).view(32, 64); b = torch.linspace(0, 1, 64)[:, None];"
         "x = torch.linspace(-3, 3, 100000); print(hashlib.md5(torch.mm(a, b).numpy().tobytes()"
         " + torch.exp(x).numpy().tobytes()).hexdigest())")


def test_on_another_vendors_cpu_mkls_own_paths_give_other_bits(tmp_path):
    """The control: the library is what changes the bits (a matrix-vector product and MKL's exp), pinned alike."""
    from rnnpipe.core.numerics import ISA_SETTINGS

    vendor = cpu_vendor()
    if not needs_intel_paths("avx2", vendor):
        pytest.skip(f"this CPU ({vendor}) is Intel's or not x86 Linux: MKL's vendor paths cannot be compared here")
    if CC is None:
        pytest.skip("no C compiler (cc or gcc) on this machine to build the library")
    library = build(tmp_path / LIBRARY)
    base = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", **ISA_SETTINGS["avx2"]}
    bits = [subprocess.run([sys.executable, "-c", PROBE], env={**base, **extra}, capture_output=True, text=True,
                           check=True).stdout for extra in ({}, {"LD_PRELOAD": str(library)})]
    assert bits[0] != bits[1]


@needs_cc
def test_setups_build_skips_a_place_it_cannot_write_and_builds_in_the_next(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    places = [blocked / "lib" / LIBRARY, tmp_path / "cache" / LIBRARY]
    monkeypatch.setattr(intel_paths, "cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.setattr(intel_paths, "library_candidates", lambda: places)
    assert intel_paths.main(["build"]) == 0
    assert places[1].is_file() and "built" in capsys.readouterr().out
    assert intel_paths.main(["build"]) == 0 and capsys.readouterr().out == ""  # built once, then found


def test_setups_build_is_a_no_op_on_an_intel_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(intel_paths, "cpu_vendor", lambda: INTEL)
    monkeypatch.setattr(intel_paths, "library_candidates", lambda: [tmp_path / LIBRARY])
    assert intel_paths.main(["build"]) == 0
    assert not list(tmp_path.iterdir())
    assert intel_paths.main(["nonsense"]) == 2


def test_a_compiler_that_does_not_exist_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(RuntimeError, match="no-such-cc' cannot run"):
        build(tmp_path / LIBRARY)
    assert not (tmp_path / LIBRARY).exists()

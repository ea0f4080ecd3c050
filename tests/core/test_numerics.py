"""Tests for the process's numerics (rnnpipe.core.numerics): what each setting means, refusals, that they took."""
from __future__ import annotations

import pytest
import torch

from rnnpipe.core.numerics import apply_runtime, environment
from rnnpipe.core.params import RuntimeParams


def test_avx2_pins_every_library_and_clears_what_would_override_it():
    env = environment(RuntimeParams(isa="avx2", threads=3))
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "AVX2,STRICT"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["NPY_ENABLE_CPU_FEATURES"] == "X86_V3"
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["MKL_ENABLE_INSTRUCTIONS"] is None and env["NPY_DISABLE_CPU_FEATURES"] is None


def test_native_leaves_the_instruction_set_settings_to_the_shell():
    env = environment(RuntimeParams(isa="native", threads=1))
    assert not {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "NPY_ENABLE_CPU_FEATURES"} & set(env)
    assert env["OMP_NUM_THREADS"] == "1"


def test_applying_other_settings_after_torch_loaded_is_refused():
    with pytest.raises(RuntimeError, match="before torch or numpy"):
        apply_runtime(RuntimeParams(isa="native", threads=1))


def test_the_settings_took_effect_in_this_test_process():
    assert torch.backends.cpu.get_cpu_capability() == "AVX2" and not torch.backends.mkldnn.enabled

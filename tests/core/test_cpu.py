"""Tests for what the CPU can run (rnnpipe.core.cpu): a level it cannot run is one line naming the way out."""
from __future__ import annotations

import pytest

from rnnpipe.core.cpu import check_supported, cpu_flags
from rnnpipe.core.errors import ParamsError


@pytest.mark.parametrize("machine, flags, named", [
    ("aarch64", set(), "a aarch64 CPU"),
    ("x86_64", {"sse4_2", "avx"}, "it lacks avx2, fma, bmi2"),
])
def test_a_level_the_cpu_cannot_run_is_one_line_naming_the_way_out(machine, flags, named):
    with pytest.raises(ParamsError) as info:
        check_supported("avx2", machine, flags)
    message = str(info.value)
    assert "runtime.isa = 'avx2'" in message and named in message and "native" in message and "\n" not in message
    check_supported("native", machine, flags)  # always possible
    check_supported("avx2", "x86_64", {"avx2", "fma", "bmi2"})


def test_this_machine_reports_its_flags():
    assert "avx2" in cpu_flags()  # the project's CI and development machines are x86-64 with AVX2

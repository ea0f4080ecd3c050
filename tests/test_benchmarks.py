"""Smoke test for benchmarks/forecaster.py: the script runs end to end and prints its table and yardstick."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # trains a model in a subprocess


def test_forecaster_benchmark_runs_the_course_config_and_prints_the_knn_yardstick():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forecaster.py"), "--configs", "course",
                           "--seeds", "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    course = [line for line in lines if line.startswith("course")]
    assert len(course) == 1 and len(course[0].split()) == 9  # name, window, mean ± sd, seconds, three ratios
    assert not any(line.startswith(("default", "long_window")) for line in lines)
    knn = [line for line in lines if "neighbours: test MSE" in line]
    assert len(knn) == 4
    ratios = [float(line.split("=")[1].split()[0]) for line in knn]
    assert all(1.0 < r < 1.5 for r in ratios)  # above the noise floor, below the linear AR's ~1.4-1.5x

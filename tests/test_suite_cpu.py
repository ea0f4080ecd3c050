"""benchmarks/suite_cpu.py: the kinds it sorts processes into, and a real profile of a small pytest run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from suite_cpu import kind  # noqa: E402


def test_each_process_of_the_suite_is_named_by_what_it_runs():
    venv = "/repo/.venv/bin"
    assert kind([f"{venv}/python", "-m", "rnnpipe.stage", "train_charrnn"]) == "stage train_charrnn"
    assert kind([f"{venv}/python", "-m", "rnnpipe.warm.server", "/tmp/x.sock"]).startswith("stage server")
    assert kind([f"{venv}/python", "-m", "rnnpipe.sweep", "agent", "s.yaml"]) == "sweep agent"
    assert kind([f"{venv}/python", f"{venv}/dvc", "exp", "run", "--queue", "-S", "a.b=1"]) == "dvc exp run"
    assert kind([f"{venv}/python", f"{venv}/dvc", "repro", "-f", "train"]) == "dvc repro"
    assert kind([f"{venv}/python", f"{venv}/mlflow", "server", "--host", "127.0.0.1"]) == "mlflow server"
    assert kind([f"{venv}/python", f"{venv}/mlflow", "models", "serve", "-m", "m"]) == "mlflow models serve"
    assert kind([f"{venv}/python", "-m", "uvicorn", "--host", "127.0.0.1"]) == "mlflow server"
    assert kind([f"{venv}/python", "-m", "pytest", "-n", "2", "/tmp/pytest-of-root/x"]) == "pytest"
    assert kind([f"{venv}/python", "-u", "-c", "import sys;exec(eval(sys.stdin.readline()))"]) == \
        "pytest worker (xdist)"
    assert kind([f"{venv}/python", str(ROOT / "benchmarks" / "charrnn.py"), "--parts", "rate"]) == \
        "python benchmarks/charrnn.py"
    assert kind(["git", "status", "--short"]) == "git"
    assert kind([]) == "?"


def test_a_profile_counts_the_cpu_of_the_processes_a_test_starts_and_passes_pytests_exit_code_on(tmp_path):
    (tmp_path / "spin.py").write_text("import time\nend = time.process_time() + 1.5\n"
                                      "while time.process_time() < end:\n    pass\n")
    (tmp_path / "test_spin.py").write_text(
        "import subprocess, sys\nfrom pathlib import Path\n\n"
        "def test_spin():\n    subprocess.run([sys.executable, str(Path(__file__).parent / 'spin.py')], check=True)\n\n"
        "def test_fails():\n    assert False\n")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite_cpu.py"), str(tmp_path), "-q",
                           "-p", "no:cacheprovider", "-o", "addopts="], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr  # pytest's: one test failed
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[-1:] == ["kind"])
    *kinds, total = lines[header + 1:]
    rows = {line.split("  ")[-1]: line.split() for line in kinds}
    assert float(rows["python spin.py"][0]) >= 1.0 and rows["python spin.py"][2] == "1"
    assert "pytest" in rows
    assert abs(float(total.split()[0]) - sum(float(row[0]) for row in rows.values())) < 0.2  # the rows add up
    assert "all seen (" in total and " s wall x " in total


def cgroups_writable() -> bool:
    return os.geteuid() == 0 and any((Path("/sys/fs/cgroup") / d).exists() for d in ("cgroup.controllers", "cpu"))


@pytest.mark.skipif(not cgroups_writable(), reason="--cpus makes a cgroup: root and a cgroup file system")
def test_cpus_runs_the_suite_within_that_many_cores_and_removes_its_cgroup(tmp_path):
    (tmp_path / "spin.py").write_text("import time\nend = time.process_time() + 0.4\n"
                                      "while time.process_time() < end:\n    pass\n")
    (tmp_path / "test_spin.py").write_text(
        "import subprocess, sys\nfrom pathlib import Path\n\n"
        "def test_spin():\n    subprocess.run([sys.executable, str(Path(__file__).parent / 'spin.py')], check=True)\n")
    cgroups = Path("/sys/fs/cgroup")
    before = set(cgroups.glob("**/rnnpipe-suite-cpu-*"))  # this suite's own, when it runs with --cpus
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite_cpu.py"), "--cpus", "0.2", str(tmp_path),
                           "-q", "-p", "no:cacheprovider", "-o", "addopts="], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-o addopts=, in a cgroup with 0.2 of " in done.stdout
    total = done.stdout.splitlines()[-1]
    seen = int(re.search(r"all seen \((\d+)% of \d+ s wall x 0.2 cores", total).group(1))
    assert 40 <= seen <= 110, total  # unlimited, the run would use far more than 0.2 cores (about 400%)
    assert set(cgroups.glob("**/rnnpipe-suite-cpu-*")) == before, "the cgroup was left behind"


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "1e9", ""])
def test_a_bad_cpus_is_one_line_before_pytest_starts(value):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite_cpu.py"), f"--cpus={value}"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, ""), done.stdout
    assert done.stderr.startswith(f"error: --cpus = {value!r} is invalid: allowed is a number of cores from 0.01 to ")
    assert len(done.stderr.splitlines()) == 1

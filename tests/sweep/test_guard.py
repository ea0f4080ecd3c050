"""The trial guard, with real processes: on SIGTERM (what the kernel sends it when its agent dies) it ends the
trial's whole process group and deletes the temporary workspace the group worked in, and nothing else."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def test_sigterm_ends_the_trial_group_and_removes_only_its_workspace(tmp_path):
    exps = tmp_path / ".dvc" / "tmp" / "exps" / "standalone"
    mine, other = exps / "tmpmine", exps / "tmpother"
    for workspace in (mine, other):
        (workspace / ".dvc").mkdir(parents=True)
    pid_file = tmp_path / "grandchild.pid"
    # The "trial": a shell in the workspace that starts a grandchild ignoring nothing, like dvc starting a stage.
    script = f"cd {mine} && sleep 300 & echo $! > {pid_file}; cd {mine} && wait"
    guard = subprocess.Popen([sys.executable, "-m", "rnnpipe.sweep.guard", str(tmp_path), "--", "bash", "-c", script],
                             env={**os.environ, "PYTHONPATH": SRC})
    wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip())
    grandchild = int(pid_file.read_text())
    time.sleep(1.2)  # the guard notes the group's working folders twice a second
    guard.send_signal(signal.SIGTERM)
    assert guard.wait(timeout=30) == 128 + signal.SIGTERM
    wait_for(lambda: not alive(grandchild))
    assert not mine.exists() and (other / ".dvc").is_dir() and exps.is_dir()


def test_a_trial_that_ends_by_itself_passes_its_exit_code_through(tmp_path):
    guard = subprocess.run([sys.executable, "-m", "rnnpipe.sweep.guard", str(tmp_path), "--", "bash", "-c", "exit 75"],
                           env={**os.environ, "PYTHONPATH": SRC}, timeout=30)
    assert guard.returncode == 75


def test_a_trial_runs_dvc_through_its_own_command_line_and_gets_dvc_s_exit_code(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC, "DVC_NO_ANALYTICS": "true"}
    shown = subprocess.run([sys.executable, "-m", "rnnpipe.sweep.dvc_cli", "version"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "DVC version" in shown.stdout
    refused = subprocess.run([sys.executable, "-m", "rnnpipe.sweep.dvc_cli", "exp", "run", "--temp"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "not inside of a DVC repository" in refused.stderr

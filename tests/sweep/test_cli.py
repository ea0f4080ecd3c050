"""`python -m rnnpipe.sweep` refuses, in one line and before any trial, what it cannot work with: a dead MLflow
server, a dead study database, a sweep that does not exist. Real processes; nothing is written to the repository."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sweep(*args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RNNPIPE_SWEEP", "DVC_"))}
    return subprocess.run([sys.executable, "-m", "rnnpipe.sweep", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_a_dead_mlflow_server_is_one_line_before_any_trial():
    port = free_port()
    one_line(sweep("run", "sweeps/forecaster-window-noise.yaml", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}"),
             f"127.0.0.1:{port}", "unreachable")


def test_a_dead_study_database_is_one_line_without_its_password(tmp_path):
    port = free_port()
    result = sweep("agent", "forecaster-window-noise", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
                   RNNPIPE_SWEEP_STORAGE=f"postgresql+psycopg2://optuna:secret@127.0.0.1:{port}/optuna")
    one_line(result, "sweep storage", f"127.0.0.1:{port}", "not usable")
    assert "secret" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before MLflow was touched


def test_joining_a_sweep_that_does_not_exist_is_one_line(tmp_path):
    one_line(sweep("agent", "nothing-here", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
                   RNNPIPE_SWEEP_STORAGE=f"sqlite:///{tmp_path}/optuna.db"),
             "no sweep named 'nothing-here'", "python -m rnnpipe.sweep run sweeps/nothing-here.yaml")

"""Stages in forks of a warm interpreter (rnnpipe.warm), as a sweep agent runs them: the outputs, exit codes, streams
and signals of a cold start; a stage whose numerics differ from the server's runs cold."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rnnpipe.warm import ADDRESS_ENV
from rnnpipe.warm.launcher import running
from tests.integration.helpers import alive, make_copy

pytestmark = pytest.mark.slow


def lock_outs(root: Path) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s"
        time.sleep(0.1)


def warm_pid(log: Path, stage: str, after: int, kind: str = "stage") -> int:
    """The pid of the fork that runs `stage` (kind dvc: a dvc command), from the server's log lines after the first
    `after` ones."""
    found: list[int] = []

    def logged() -> bool:
        lines = log.read_text(encoding="utf-8").splitlines()[after:]
        found[:] = [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(f"{kind} {stage} ")
                    and ", pid " in line]
        return bool(found)

    wait_for(logged, f"warm run of {stage} in {log}")
    return found[0]


@pytest.fixture
def copy(tmp_path):
    return make_copy(tmp_path / "repo", {"tracking": {"enabled": True}})


def test_a_warm_repro_writes_the_bytes_of_a_cold_one(copy, tracked_run, tmp_path):
    cold = lock_outs(tracked_run.root)  # the same params, run cold (tests/integration/conftest.py)
    log = tmp_path / "server.log"
    with running(copy.root, {**copy.env, "PYTHONPATH": str(copy.root / "src")}, log) as server:
        env = server.stage_env()
        assert env is not None, log.read_text(encoding="utf-8")
        copy.run(str(Path(sys.executable).parent / "dvc"), "repro", env_extra={ADDRESS_ENV: env[ADDRESS_ENV]})
    wait_for(lambda: not Path(env[ADDRESS_ENV]).exists(), "the server's exit once its lease is given back", 30)
    assert len(cold) >= 20 and lock_outs(copy.root) == cold
    lines = log.read_text(encoding="utf-8").splitlines()
    warm = {line.split()[1] for line in lines if ": warm, pid " in line}
    assert warm == {"check_params", "prepare_series", "prepare_corpus", "train_forecaster", "evaluate_forecaster",
                    "forecast", "train_charrnn", "evaluate_charrnn", "generate_text"}, lines
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{copy.root}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}  # the forks ended their runs


def test_exit_codes_streams_and_signals_go_through_and_other_numerics_run_cold(copy, tmp_path):
    copy.set_params({"charrnn": {"epochs": 1000}})
    copy.repro("prepare_corpus", "prepare_series")
    log = tmp_path / "server.log"
    stage = [sys.executable, "-m", "rnnpipe.stage"]
    with running(copy.root, {**copy.env, "PYTHONPATH": str(copy.root / "src")}, log) as server:
        env = server.stage_env()
        assert env is not None, log.read_text(encoding="utf-8")
        warm_env = {**env, "PYTHONPATH": "src"}

        bad = subprocess.run([*stage, "train_forecaster", "--no-such-flag"], cwd=copy.root, env=warm_env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: "), bad.stderr
        assert "--no-such-flag" in bad.stderr and ": warm, pid " in log.read_text(encoding="utf-8")

        # SIGTERM: the stage's own handling (the fork marks its MLflow run KILLED and exits 130), or death by the
        # signal before its handler is set: the caller ends as a cold stage would. SIGKILL: the fork ends with it.
        for sig, codes in ((signal.SIGTERM, (130, -signal.SIGTERM)), (signal.SIGKILL, (-signal.SIGKILL,))):
            seen = len(log.read_text(encoding="utf-8").splitlines())
            caller = subprocess.Popen([*stage, "train_charrnn"], cwd=copy.root, env=warm_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            fork = warm_pid(log, "train_charrnn", seen)
            time.sleep(3)  # into training
            assert caller.poll() is None and alive(fork)
            caller.send_signal(sig)
            _, err = caller.communicate(timeout=60)
            assert caller.returncode in codes, err
            wait_for(lambda: not alive(fork), f"end of the fork {fork} after {sig.name}", timeout=30)

        # Other pinned instruction sets than the server loaded with: the stage runs cold (and on a CPU without
        # AVX-512 refuses in its one line, as any cold start does).
        copy.set_params({"runtime": {"isa": "avx512"}})
        cold = subprocess.run([*stage, "prepare_series"], cwd=copy.root, env=warm_env, capture_output=True, text=True,
                              timeout=300)
        last = log.read_text(encoding="utf-8").splitlines()[-1]
        assert last.startswith("stage prepare_series in ") and ": cold, other numerics settings" in last, last
        assert cold.returncode == 0 or cold.stderr.strip().splitlines()[-1].startswith("error: "), cold.stderr


def test_a_trials_dvc_runs_in_a_fork_that_its_guard_ends_as_a_whole(copy, tmp_path):
    """A sweep trial's command under its guard: dvc forked by the server in a group of its own, the stages it runs
    forked too; SIGTERM to the guard (its agent died) ends all of them and removes the temporary workspace."""
    copy.set_params({"forecaster": {"epochs": 3000}})
    copy.repro("prepare_series")
    log = tmp_path / "server.log"
    trial = [sys.executable, "-m", "rnnpipe.sweep.guard", str(copy.root), "--",
             sys.executable, "-m", "rnnpipe.sweep.dvc_cli", "exp", "run", "--temp"]
    with running(copy.root, {**copy.env, "PYTHONPATH": str(copy.root / "src")}, log) as server:
        env = server.stage_env()
        assert env is not None, log.read_text(encoding="utf-8")
        warm_env = {**env, "PYTHONPATH": str(copy.root / "src")}

        done = subprocess.run([*trial, "-n", "short", "-S", "forecaster.epochs=2", "train_forecaster"],
                              cwd=copy.root, env=warm_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Ran experiment(s): short" in done.stdout
        warm_pid(log, "exp", 0, kind="dvc")
        warm_pid(log, "train_forecaster", 0)

        seen = len(log.read_text(encoding="utf-8").splitlines())
        guard = subprocess.Popen([*trial, "-n", "long", "train_forecaster"], cwd=copy.root, env=warm_env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        dvc = warm_pid(log, "exp", seen, kind="dvc")
        stage = warm_pid(log, "train_forecaster", seen)
        time.sleep(2)  # into training
        assert guard.poll() is None and alive(dvc) and alive(stage)
        guard.send_signal(signal.SIGTERM)
        output, _ = guard.communicate(timeout=60)
        assert guard.returncode == 128 + signal.SIGTERM, output
        wait_for(lambda: not alive(dvc) and not alive(stage), "end of the trial's forks", timeout=30)
    assert list((copy.root / ".dvc" / "tmp" / "exps").glob("standalone/tmp*")) == []
    refs = copy.run("git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps").stdout.split()
    assert refs == ["short"]

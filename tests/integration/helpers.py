"""Integration helpers: a temporary git copy of the repository with tiny params, and the real dvc and python.

Nothing is mocked: stages run through the real `dvc repro`, MLflow writes to a real SQLite store or server.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# A tiny corpus the tests make themselves: varied enough for a vocabulary, small enough for seconds of training.
TINY_TEXT = (
    "Мой дядя самых честных правил, когда не в шутку занемог, он уважать себя заставил и лучше выдумать не мог. "
    "Ёжик в тумане: ёлка, мёд, её. The quick brown fox jumps over the lazy dog; 0123456789? "
) * 12

TINY_PARAMS: dict[str, Any] = {
    "series": {"n_points": 400, "n_train": 200},
    "ar": {"length": 200},
    "forecaster": {"seq_length": 8, "targets_per_window": 4, "window_stride": 2, "hidden_size": 4, "epochs": 2,
                   "batch_size": 16, "linear_window": 3},
    "forecast": {"horizon": 20},
    "corpus": {"source": "file", "path": "texts/tiny.txt", "train_fraction": 0.8, "val_fraction": 0.1,
               "test_fraction": 0.1},
    "charrnn": {"hidden_size": 16, "embedding_dim": 8, "seq_length": 16, "batch_size": 8, "epochs": 2},
    "charrnn_eval": {"baseline_order": 3},
    "generate": {"n_chars": 30},
    "tracking": {"enabled": False},
}


def deep_update(base: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "true"
    env.update(extra)
    return env


class RepoCopy:
    """A temporary git repository holding the project's tracked and untracked-but-not-ignored files."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env

    def run(self, *args: str, check: bool = True, timeout: float = 600, env_extra: dict[str, str] | None = None,
            **kwargs: Any) -> subprocess.CompletedProcess:
        result = subprocess.run(list(args), cwd=self.root, env={**self.env, **(env_extra or {})}, capture_output=True,
                                text=True, timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True, timeout: float = 600, env_extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check, timeout=timeout, env_extra=env_extra)

    def repro(self, *args: str, check: bool = True, env_extra: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess:
        return self.dvc("repro", *args, check=check, env_extra=env_extra)

    def params(self) -> dict:
        return yaml.safe_load((self.root / "params.yaml").read_text(encoding="utf-8"))

    def set_params(self, changes: dict) -> None:
        params = deep_update(self.params(), changes)
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False),
                                               encoding="utf-8")

    def commit(self, message: str = "test") -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")

    def run_queue(self, workers: int, timeout: float = 900, env_extra: dict[str, str] | None = None) -> str:
        """`dvc queue start -j workers` (env_extra in the workers' environment: e.g. the warm stage server's
        address), wait until nothing is queued or running, stop the workers and end any that stay; the status."""
        # The workers' daemons keep the starting process's stdout: a pipe would hold this call until they exit.
        with open(self.root.parent / "dvc-queue-start.log", "ab") as log:
            started = subprocess.run([str(BIN / "dvc"), "queue", "start", "-j", str(workers)], cwd=self.root,
                                     env={**self.env, **(env_extra or {})}, stdout=log, stderr=log, timeout=120)
        assert started.returncode == 0, (self.root.parent / "dvc-queue-start.log").read_text()
        deadline = time.monotonic() + timeout
        try:
            while True:
                status = self.dvc("queue", "status").stdout
                if not any(word in status for word in ("Queued", "Running")):
                    break
                assert time.monotonic() < deadline, status
                time.sleep(2)
        finally:
            self.dvc("queue", "stop", check=False)
            self.end_queue_workers()
        return status

    def end_queue_workers(self, grace: float = 30) -> None:
        """Wait for the queue's workers to exit, then end the process group of any that has not (a celery worker
        can stay after announcing its shutdown when the queue emptied while it finished a task)."""
        texts = [f.read_text().strip() for f in (self.root / ".dvc" / "tmp" / "exps" / "celery").glob("*.pid")]
        pids = [int(text) for text in texts if text.isdigit()]
        deadline = time.monotonic() + grace
        for pid in pids:
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker, its daemon parent, its stage

    @staticmethod
    def ran_stages(repro_output: str) -> set[str]:
        return {line.split("'")[1] for line in repro_output.splitlines() if line.startswith("Running stage '")}


def make_copy(dest: Path, params: dict | None = None, env: dict[str, str] | None = None) -> RepoCopy:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file() and not name.startswith("dvc.lock"):
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / "texts").mkdir(exist_ok=True)
    (dest / "texts" / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    copy = RepoCopy(dest, env or subprocess_env())
    copy.set_params(deep_update(yaml.safe_load(yaml.safe_dump(TINY_PARAMS)), params or {}))
    copy.run("git", "init", "-q", "-b", "main")
    copy.run("git", "config", "user.email", "test@rnnpipe.local")
    copy.run("git", "config", "user.name", "rnnpipe tests")
    copy.commit("initial")
    return copy


def copy_of(source: RepoCopy, dest: Path, env: dict[str, str] | None = None) -> RepoCopy:
    """A copy of a shared run that a test may change. DVC's own scratch folder (.dvc/tmp: locks another worker's
    `dvc status` may be creating and removing right now) is left out; DVC makes it again."""
    shutil.copytree(source.root, dest, symlinks=True,
                    ignore=lambda folder, names: ["tmp"] if Path(folder) == source.root / ".dvc" else [])
    return RepoCopy(dest, env if env is not None else source.env)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(root: Path, timeout: float = 120) -> Iterator[str]:
    """A real, empty `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts under root); yields its URL and
    ends its whole process group (uvicorn workers included) on the way out."""
    import os
    import signal
    import urllib.request

    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / "server.log", "w") as log:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root}/server.db",
             "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # MLflow's background job runner (GenAI jobs: seven huey processes, 30 CPU-seconds each server) has
            # nothing to do for this project; scripts/team_services.py starts the team's server without it too.
            env=subprocess_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=20)
                    break
                except subprocess.TimeoutExpired:
                    continue


@contextlib.contextmanager
def model_server(copy: RepoCopy, model_uri: str, log_path: Path) -> Iterator[str]:
    """`mlflow models serve` of a registered model on a free 127.0.0.1 port, as docs/serving.md says; yields its
    URL. On the way out its whole process group is ended (SIGTERM, then SIGKILL for what is left: a worker busy
    with a request does not stop on SIGTERM), and the group is checked empty."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
                                   "-h", "127.0.0.1", "-p", str(port)], cwd=copy.root, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**copy.env, "MLFLOW_TRACKING_URI": f"sqlite:///{copy.root / 'mlflow.db'}"})
        try:
            deadline = time.monotonic() + 240
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                        break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            end_process_group(server)


def end_process_group(process: subprocess.Popen) -> None:
    """End a process started with start_new_session and every process of its group; fail if any stays."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader, or a leader that would not stop
    process.wait(timeout=15)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"processes of group {process.pid} are still running"
        time.sleep(0.2)


def post(url: str, body: dict | str, timeout: float = 30) -> tuple[int, dict, float]:
    """A POST of body to the served model's /invocations: the HTTP status, the JSON answer and the seconds taken."""
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, headers={"Content-Type": "application/json"})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    return status, json.loads(payload), time.monotonic() - start


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"

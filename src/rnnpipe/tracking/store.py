"""Where runs are stored, and writing to the store safely.

- Store: `MLFLOW_TRACKING_URI` if set, else `tracking.uri` from params.yaml, else `sqlite:///<repo>/mlflow.db` with
  artifacts under `<repo>/mlruns`, both absolute. <repo> comes from DVC_ROOT; queued `dvc exp` runs execute in
  `<repo>/.dvc/tmp/exps/...`, so that suffix is cut off and every run lands in the one store of the repository.
- A dead server or an unusable URI is one line before any training (`check_reachable`).
- Parallel writers: experiment creation is get-or-create, SQLite writers take a file lock, a write that finds the
  database locked is retried, and no signal cuts a write in half (`uninterrupted`).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from rnnpipe.core.errors import TrackingError, first_line

_EXPS_MARKER = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def project_root() -> Path:
    root = os.environ.get("DVC_ROOT") or os.getcwd()
    if _EXPS_MARKER in root + os.sep:
        root = (root + os.sep).split(_EXPS_MARKER)[0]
    return Path(root).resolve()


def default_uri(root: Optional[Path] = None) -> str:
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def resolve_uri(param_uri: Optional[str]) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or param_uri or default_uri()


def artifact_location(experiment: str, root: Optional[Path] = None) -> str:
    return ((root or project_root()) / "mlruns" / experiment).as_uri()


def dvc_written_paths(root: Path) -> set[str]:
    """Files DVC itself rewrites while a pipeline runs: dvc.lock, every declared output, their .gitignore files."""
    try:
        import yaml

        stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")).get("stages", {})
    except (OSError, AttributeError, ValueError):
        return {"dvc.lock"}
    paths = {"dvc.lock"}
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []) or []:
                path = next(iter(entry)) if isinstance(entry, dict) else str(entry)
                paths |= {path, str(Path(path).parent / ".gitignore")}
    return paths


def git_commit(root: Path) -> str:
    """HEAD, with -dirty when the workspace holds what git never saw: a change to a tracked file other than what DVC
    writes (dvc.lock between stages, the outputs), or a file git does not track and does not ignore (a text of the
    user's, say: `git checkout` of HEAD would not bring it back). In a DVC experiment (DVC_EXP_NAME set): HEAD of
    the folder the stage runs in (a --temp or queued experiment runs in a copy of its own), the experiment's
    baseline, and only untracked files make it -dirty: the experiment's commit (`dvc exp apply NAME`) holds every
    change to tracked files, the -S values written into params.yaml included."""
    in_experiment = bool(os.environ.get("DVC_EXP_NAME"))
    if in_experiment:
        root = Path.cwd()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    lines = [line for line in status.stdout.splitlines() if line.strip()]
    if in_experiment:
        lines = [line for line in lines if line.startswith("??")]
    changed = {line[3:].split(" -> ")[-1].strip('"') for line in lines}
    return head.stdout.strip() + ("-dirty" if changed - dvc_written_paths(root) else "")


SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file


def is_sqlite_file(path: Path) -> bool:
    """An SQLite database, or an empty file (SQLite makes a database of it)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:  # a folder, no permission
        return False
    return head in (b"", SQLITE_HEADER)


def check_reachable(uri: str, timeout: float = 5.0, must_exist: bool = False) -> None:
    """Fail fast, in one line, before any training: a dead server or a bad URI is a user error. With must_exist, a
    SQLite store that is not there yet is one too (a command that only reads must not create an empty store)."""
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
                if response.status != 200:
                    raise TrackingError(f"MLflow tracking server {uri} answered /health with {response.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(f"MLflow tracking server {uri} is unreachable ({reason}); start it, fix "
                                "MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false") from None
    elif scheme == "sqlite":
        path = Path(uri.split(":///", 1)[1].split("?", 1)[0]) if ":///" in uri else None
        if path is None or not path.is_absolute() and not str(path).startswith("/"):
            raise TrackingError(f"tracking URI {uri!r} is not usable: use sqlite:////absolute/path/mlflow.db")
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise TrackingError(f"tracking URI {uri!r} is not usable: folder {path.parent} is missing or "
                                "not writable")
        if path.exists() and not is_sqlite_file(path):
            raise TrackingError(f"tracking URI {uri!r} is not usable: {path} is not an SQLite database; allowed is "
                                "an MLflow SQLite store, or a path where none exists yet")
        if must_exist and not path.exists():
            raise TrackingError(f"no MLflow store at {path}: a tracked pipeline run makes it; or point "
                                "MLFLOW_TRACKING_URI (or params.yaml tracking.uri) at the store you mean")
    else:
        raise TrackingError(f"tracking URI {uri!r} is not usable: allowed are http(s)://host:port of an "
                            "`mlflow server`, or sqlite:////absolute/path.db (MLflow refuses plain folders)")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A store write is never cut in half: SIGINT, SIGTERM or SIGHUP arriving during it takes effect right after.

    A KeyboardInterrupt raised inside an MLflow write leaves the SQLite transaction open (SQLAlchemy rolls back on
    Exception only), and the write that marks the run KILLED then waits on that lock until "database is locked".
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):  # an ignored signal stays ignored
            previous[sig] = signal.signal(sig, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if arrived:
            signal.raise_signal(arrived[0])  # now, to whatever handled it before (Ctrl-C: KeyboardInterrupt)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise store creation and experiment creation across parallel `dvc queue` workers (SQLite)."""
    if not uri.startswith("sqlite:"):
        yield
        return
    lock_path = Path(uri.split(":///", 1)[1].split("?", 1)[0] + ".lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_or_create_experiment(client: Any, name: str, tags: dict[str, str], location: Optional[str]) -> Any:
    """The experiment called `name`, created if missing; a concurrent creator's success counts as ours."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            client.create_experiment(name, tags=tags, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        found = client.get_experiment_by_name(name)
        if found is None:
            raise TrackingError(f"MLflow experiment {name} could not be created or found in the store")
    if found.lifecycle_stage == "deleted":
        raise TrackingError(f"MLflow experiment {name} (id {found.experiment_id}) is deleted in this store: restore "
                            f"it with `mlflow experiments restore --experiment-id {found.experiment_id}`, or remove it "
                            f"for good with `mlflow gc`")
    return found


def retry_locked(write: Callable[[], None], attempts: int = 4, first_wait: float = 0.5,
                 sleep: Optional[Callable[[float], None]] = None) -> Optional[str]:
    """Run a store write, retrying while SQLite says "database is locked" (another writer held it past MLflow's
    busy timeout). Returns None once it succeeds, or the last error's first line after the attempts are spent;
    any other error propagates."""
    import time

    sleep = sleep or time.sleep
    wait = first_wait
    for attempt in range(attempts):
        try:
            write()
            return None
        except Exception as exc:  # MlflowException wrapping SQLAlchemy's OperationalError, or sqlite3's own
            if "database is locked" not in str(exc):
                raise
            if attempt == attempts - 1:
                return first_line(exc)
            sleep(wait)
            wait *= 2
    return None

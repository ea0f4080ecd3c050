"""Every MLflow convention of the project, in one place.

- Store: `MLFLOW_TRACKING_URI` if set, else `tracking.uri` from params.yaml, else `sqlite:///<repo>/mlflow.db` with
  artifacts under `<repo>/mlruns`, both absolute. <repo> comes from DVC_ROOT; queued `dvc exp` runs execute in
  `<repo>/.dvc/tmp/exps/...`, so that suffix is cut off and every run lands in the one store of the repository.
- One experiment per model kind (rnnpipe-forecaster, rnnpipe-charrnn), one run per training-stage execution, one
  registered model per kind with a new version per run.
- Evaluation and generation attach to the run of the model they used, found by the tag rnnpipe.model_sha256.
- Nothing from here is ever written into a DVC-tracked output (run ids and times are not deterministic).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from rnnpipe.core.errors import TrackingError, first_line

EXPERIMENTS = {"forecaster": "rnnpipe-forecaster", "charrnn": "rnnpipe-charrnn"}
REGISTERED_MODELS = {"forecaster": "rnnpipe-forecaster", "charrnn": "rnnpipe-charrnn"}
MODEL_TAG = "rnnpipe.model_sha256"
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


def git_commit(root: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, before any training: a dead server or a bad URI is a user error."""
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
    else:
        raise TrackingError(f"tracking URI {uri!r} is not usable: allowed are http(s)://host:port of an "
                            "`mlflow server`, or sqlite:////absolute/path.db (MLflow refuses plain folders)")


class Tracker:
    """MLflow for the stages; with enabled=False every method does nothing and MLflow is never imported."""

    def __init__(self, enabled: bool, uri: Optional[str] = None):
        self.enabled = enabled
        self.uri = resolve_uri(uri) if enabled else None
        self.root = project_root()
        if not enabled:
            return
        check_reachable(self.uri)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        self.mlflow = mlflow
        # Opening a SQLite store runs MLflow's schema migrations: two queue workers doing that at once corrupt
        # the version table, so the first open happens under the lock.
        with self._store_lock():
            try:
                self.client = mlflow.MlflowClient(self.uri)
                self.client.search_experiments(max_results=1)
            except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
                raise TrackingError(f"MLflow store {self.uri} is not usable: {first_line(exc)}") from None

    # -- setup -----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _store_lock(self) -> Iterator[None]:
        """Serialise store creation and experiment creation across parallel `dvc queue` workers (SQLite)."""
        if not self.uri.startswith("sqlite:"):
            yield
            return
        lock_path = Path(self.uri.split(":///", 1)[1].split("?", 1)[0] + ".lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def experiment_id(self, kind: str) -> str:
        name = EXPERIMENTS[kind]
        with self._store_lock():
            try:
                found = self.client.get_experiment_by_name(name)
                if found is not None:
                    return found.experiment_id
                return self.client.create_experiment(name, artifact_location=artifact_location(name, self.root)
                                                     if self.uri.startswith("sqlite:") else None)
            except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
                raise TrackingError(f"MLflow store {self.uri} is not usable: {first_line(exc)}") from None

    # -- runs ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def training_run(self, kind: str, params: dict[str, Any], tags: dict[str, str]) -> Iterator["Tracker"]:
        if not self.enabled:
            yield self
            return
        experiment_id = self.experiment_id(kind)
        all_tags = {**self.standard_tags(), **tags}
        with self.mlflow.start_run(experiment_id=experiment_id, tags=all_tags,
                                   run_name=os.environ.get("DVC_EXP_NAME") or None):
            self.mlflow.log_params(params)
            yield self

    @contextlib.contextmanager
    def model_run(self, kind: str, model_sha256: str) -> Iterator["Tracker"]:
        """Resume the run that trained the model with this sha256 (the newest such run).

        A training stage restored from DVC's run cache never ran, so no run may exist: then a run is created
        for the model, tagged so, and the evaluation lands there.
        """
        if not self.enabled:
            yield self
            return
        experiment_id = self.experiment_id(kind)
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`{MODEL_TAG}` = '{model_sha256}'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            with self.mlflow.start_run(run_id=runs[0].info.run_id):
                self.mlflow.set_tags({f"{k}.last_attached": v for k, v in self.stage_tags().items()})
                yield self
            return
        tags = {**self.standard_tags(), MODEL_TAG: model_sha256,
                "rnnpipe.note": "training run not found (stage restored from DVC's run cache, or trained with "
                                "tracking off)"}
        with self.mlflow.start_run(experiment_id=experiment_id, tags=tags):
            yield self

    def standard_tags(self) -> dict[str, str]:
        return {"git_commit": git_commit(self.root), **self.stage_tags()}

    @staticmethod
    def stage_tags() -> dict[str, str]:
        return {"dvc_stage": os.environ.get("DVC_STAGE", ""), "dvc_exp_name": os.environ.get("DVC_EXP_NAME", "")}

    # -- logging ---------------------------------------------------------------------------------------------

    def log_metrics(self, metrics: dict[str, float], step: Optional[int] = None) -> None:
        if self.enabled:
            numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
            self.mlflow.log_metrics(numeric, step=step)

    def epoch_logger(self, prefix: str = "", scale: float = 1.0) -> Callable[[Any], None]:
        """An on_epoch callback for rnnpipe.core.training.fit: train/val loss (times `scale`) with step=epoch."""

        def callback(row: Any) -> None:
            self.log_metrics({f"{prefix}train_loss": row.train_loss * scale, f"{prefix}val_loss": row.val_loss * scale,
                              f"{prefix}epoch_seconds": row.seconds}, step=row.epoch)

        return callback

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.enabled:
            self.mlflow.set_tags(tags)

    def log_artifact(self, path: str | Path, artifact_path: Optional[str] = None) -> None:
        if self.enabled:
            self.mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        if self.enabled:
            self.mlflow.log_text(text, artifact_file)

    def log_model(self, kind: str, model: Any, input_example: Any) -> None:
        """The model with its signature and input example, registered as a new version of the kind's model."""
        if not self.enabled:
            return
        import mlflow.pytorch
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        with torch.no_grad():
            output = model(torch.as_tensor(input_example)).numpy()
        # Explicit requirements: MLflow's own inference re-imports the model in a subprocess (~10 s per model).
        requirements = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]
        mlflow.pytorch.log_model(model, name="model", input_example=input_example,
                                 signature=infer_signature(input_example, output), pip_requirements=requirements,
                                 registered_model_name=REGISTERED_MODELS[kind])


def init_store(uri: Optional[str] = None) -> None:
    """Create the store and both experiments up front (before `dvc queue start -j N`, for example)."""
    tracker = Tracker(True, uri)
    for kind in EXPERIMENTS:
        print(f"{EXPERIMENTS[kind]}: experiment {tracker.experiment_id(kind)} in {tracker.uri}")


if __name__ == "__main__":
    from rnnpipe.core.stage import run_stage

    run_stage(lambda: init_store(sys.argv[1] if len(sys.argv) > 1 else None))

"""Every MLflow convention of the project, in one place.

- Store: `MLFLOW_TRACKING_URI` if set, else `tracking.uri` from params.yaml, else `sqlite:///<repo>/mlflow.db` with
  artifacts under `<repo>/mlruns`, both absolute. <repo> comes from DVC_ROOT; queued `dvc exp` runs execute in
  `<repo>/.dvc/tmp/exps/...`, so that suffix is cut off and every run lands in the one store of the repository.
  A mlflow.db copied here from another folder (its experiments keep artifacts there) is refused in one line.
- One experiment per model kind (rnnpipe-forecaster, rnnpipe-charrnn), tagged as model development so the UI opens
  on the runs table, with a shared view of the headline columns (`runs_table_url`).
- One run per training-stage execution, named after the DVC experiment (or after what it trains), with system
  metrics; per-epoch metrics carry their unit in their name (`val_mse`, `val_bits_per_char`). The model is logged
  as a pyfunc that serves what a user wants (text for a prompt, a forecast for recent values) and registered as a
  new version of the kind's model; rnnpipe.core.registry promotes the best evaluated version to @champion.
- Evaluation and generation attach to the run of the model they used, found by the tag rnnpipe.model_sha256.
- A run whose process died (kill -9, power cut) is closed as KILLED the next time the stage starts.
- Nothing from here is ever written into a DVC-tracked output (run ids and times are not deterministic).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from rnnpipe.core.errors import TrackingError, first_line

EXPERIMENTS = {"forecaster": "rnnpipe-forecaster", "charrnn": "rnnpipe-charrnn"}
REGISTERED_MODELS = {"forecaster": "rnnpipe-forecaster", "charrnn": "rnnpipe-charrnn"}
MODEL_TAG = "rnnpipe.model_sha256"
PID_TAG, HOST_TAG = "rnnpipe.pid", "rnnpipe.host"
# The runs table a newcomer wants: what each run trained and how it scored (see runs_table_url).
HEADLINE_COLUMNS = {
    "forecaster": (["test_mse", "test_mse_over_noise_floor", "test_mse_over_ridge_ar", "forecast_mse_vs_clean",
                    "best_val_mse", "train_seconds"],
                   ["forecaster.cell", "forecaster.hidden_size", "forecaster.seq_length", "forecaster.epochs"]),
    "charrnn": (["test_bits_per_char", "test_rnn_bits_per_char", "test_ngram_bits_per_char", "best_val_bits_per_char",
                 "train_seconds"],
                ["charrnn.cell", "charrnn.hidden_size", "charrnn.epochs", "charrnn.lr", "charrnn.ngram_order"]),
}
SHARED_VIEW = "rnnpipe-headline"
RUN_TAGS_ENV = "RNNPIPE_RUN_TAGS"
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
    """HEAD, with -dirty only when something DVC does not write has changed (DVC rewrites dvc.lock between stages)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    changed = {line[3:].split(" -> ")[-1].strip('"') for line in status.stdout.splitlines() if line.strip()}
    return head.stdout.strip() + ("-dirty" if changed - dvc_written_paths(root) else "")


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


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def signals_end_runs() -> Iterator[None]:
    """SIGTERM and SIGHUP raise like Ctrl-C does, so an open run is closed (as KILLED) instead of left RUNNING."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
        os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "5")
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
        if self.uri == default_uri(self.root):
            self._refuse_a_copied_store()

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

    def _refuse_a_copied_store(self) -> None:
        """A repository copied with its mlflow.db: the experiments still point at the original's mlruns, and new
        runs would write their artifacts into the other folder."""
        for name in EXPERIMENTS.values():
            found = self.client.get_experiment_by_name(name)
            expected = artifact_location(name, self.root)
            if found is not None and found.artifact_location != expected:
                where = found.artifact_location.removeprefix("file://")
                raise TrackingError(
                    f"{self.root / 'mlflow.db'} came from another folder: experiment {name} keeps its artifacts in "
                    f"{where}, not in {self.root / 'mlruns'}; move it aside (mv mlflow.db mlflow.db.copied) to "
                    f"start a store here, or log into the original with MLFLOW_TRACKING_URI")

    def experiment_id(self, kind: str) -> str:
        """Get or create the kind's experiment. The file lock serialises SQLite writers on one machine; against a
        server, parallel workers may race to create it, and the loser's RESOURCE_ALREADY_EXISTS means it exists."""
        name = EXPERIMENTS[kind]
        tags = {"mlflow.experimentKind": "custom_model_development",
                f"mlflow.sharedViewState.{SHARED_VIEW}": shared_view_state(kind)}
        location = artifact_location(name, self.root) if self.uri.startswith("sqlite:") else None
        with self._store_lock():
            try:
                found = get_or_create_experiment(self.client, name, tags, location)
                for key, value in tags.items():  # a store made before a tag existed gets it too
                    if found.tags.get(key) != value:
                        self.client.set_experiment_tag(found.experiment_id, key, value)
                return found.experiment_id
            except TrackingError:
                raise
            except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
                raise TrackingError(f"MLflow store {self.uri} is not usable: {first_line(exc)}") from None

    def runs_table_url(self, kind: str) -> Optional[str]:
        """The experiment's runs table with the headline columns, for a server's UI (None for other stores)."""
        if not self.enabled:
            return None
        base = self.uri if self.uri.startswith("http") else "http://127.0.0.1:5000"
        return (f"{base.rstrip('/')}/#/experiments/{self.experiment_id(kind)}/runs?workflowType=machine_learning"
                f"&viewStateShareKey={SHARED_VIEW}")

    # -- runs ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def training_run(self, kind: str, params: dict[str, Any], tags: dict[str, str], name: str,
                     datasets: Optional[dict[str, tuple[str, str]]] = None) -> Iterator["Tracker"]:
        """One run for one training: every param, the given tags, inputs as MLflow datasets {name: (path, md5)}."""
        if not self.enabled:
            yield self
            return
        experiment_id = self.experiment_id(kind)
        self.close_abandoned_runs(experiment_id)
        all_tags = {**self.standard_tags(), **tags, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
                    **run_tags_from_env()}
        run_name = os.environ.get("DVC_EXP_NAME") or name
        with signals_end_runs(), self.mlflow.start_run(experiment_id=experiment_id, tags=all_tags, run_name=run_name,
                                                       log_system_metrics=True) as run:
            self.run_id = run.info.run_id
            try:
                with uninterrupted():
                    self.mlflow.log_params(params)
                for dataset_name, (path, md5) in (datasets or {}).items():
                    self.log_dataset(dataset_name, path, md5, "training")
                yield self
            except KeyboardInterrupt:
                with uninterrupted():
                    self.mlflow.end_run("KILLED")  # Ctrl-C, SIGTERM, SIGHUP: the run says so
                raise

    def close_abandoned_runs(self, experiment_id: str) -> None:
        """Runs of this stage still RUNNING whose process is gone from this host: killed (kill -9, a crash)."""
        stage = os.environ.get("DVC_STAGE", "")
        runs = self.client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
        for run in runs:
            tags = run.data.tags
            if tags.get(HOST_TAG) == socket.gethostname() and tags.get("dvc_stage", "") == stage \
                    and tags.get(PID_TAG, "").isdigit() and not process_alive(int(tags[PID_TAG])):
                self.client.set_terminated(run.info.run_id, "KILLED")
                print(f"mlflow: run {run.info.run_name} ({run.info.run_id}) was left RUNNING by a process that "
                      "no longer exists: marked KILLED", file=sys.stderr)

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
            self.run_id = runs[0].info.run_id
            with self.mlflow.start_run(run_id=self.run_id):
                self.mlflow.set_tags({f"{k}.last_attached": v for k, v in self.stage_tags().items()})
                yield self
            return
        tags = {**self.standard_tags(), MODEL_TAG: model_sha256,
                "rnnpipe.note": "training run not found (stage restored from DVC's run cache, or trained with "
                                "tracking off)"}
        with self.mlflow.start_run(experiment_id=experiment_id, tags=tags,
                                   run_name=f"{kind} model {model_sha256[:12]} (no training run)") as run:
            self.run_id = run.info.run_id
            yield self

    def standard_tags(self) -> dict[str, str]:
        return {"git_commit": git_commit(self.root), **self.stage_tags()}

    @staticmethod
    def stage_tags() -> dict[str, str]:
        """DVC's own context, only where there is one (a plain dvc repro has no experiment name)."""
        tags = {"dvc_stage": os.environ.get("DVC_STAGE", ""), "dvc_exp_name": os.environ.get("DVC_EXP_NAME", "")}
        return {key: value for key, value in tags.items() if value}

    # -- logging ---------------------------------------------------------------------------------------------

    @uninterrupted()  # a contextmanager is also a decorator (contextlib.ContextDecorator)
    def log_metrics(self, metrics: dict[str, float], step: Optional[int] = None) -> None:
        if self.enabled:
            numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
            self.mlflow.log_metrics(numeric, step=step)

    def epoch_logger(self, unit: str, scale: float = 1.0) -> Callable[[Any], None]:
        """An on_epoch callback for rnnpipe.core.training.fit: train_<unit> and val_<unit> (times `scale`) with
        step=epoch, so a metric's name says its unit. A store that stays locked costs that epoch's points (one
        warning line), never the training."""

        def callback(row: Any) -> None:
            metrics = {f"train_{unit}": row.train_loss * scale, f"val_{unit}": row.val_loss * scale,
                       "epoch_seconds": row.seconds}
            failed = retry_locked(lambda: self.log_metrics(metrics, step=row.epoch))
            if failed is not None:
                print(f"warning: mlflow: epoch {row.epoch}'s metrics were not logged, the store stayed locked "
                      f"({failed}); training goes on", file=sys.stderr)

        return callback

    @uninterrupted()
    def set_tags(self, tags: dict[str, str]) -> None:
        if self.enabled:
            self.mlflow.set_tags({k: v for k, v in tags.items() if v})

    @uninterrupted()
    def log_artifact(self, path: str | Path, artifact_path: Optional[str] = None) -> None:
        """artifact_path None: at the run's root, where Compare shows the same file of several runs side by side."""
        if self.enabled:
            self.mlflow.log_artifact(str(path), artifact_path=artifact_path)

    @uninterrupted()
    def log_text(self, text: str, artifact_file: str) -> None:
        if self.enabled:
            self.mlflow.log_text(text, artifact_file)

    @uninterrupted()
    def log_dataset(self, name: str, path: str | Path, md5: str, context: str) -> None:
        """An input of the run (the Datasets column): its name, where it lives and its md5 as the digest."""
        if not self.enabled:
            return
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so on every call
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(Path(path).resolve().as_uri())
        self.mlflow.log_input(MetaDataset(source, name=name, digest=md5[:10]), context=context)

    @uninterrupted()
    def log_model(self, kind: str, model_code: str | Path, checkpoint: str | Path, signature: Any,
                  input_example: Any, name: str, limits: dict[str, Any]) -> None:
        """The model as a pyfunc logged from code (MLflow's models-from-code: the file `model_code`, this package and
        the checkpoint; nothing pickled), registered as a new version. Its model_config carries the checkpoint's
        sha256, which loading checks, and the request limits the served model enforces."""
        if not self.enabled:
            return
        import mlflow.pyfunc
        import numpy as np
        import pandas as pd
        import torch

        import rnnpipe
        from rnnpipe.core.io import file_digest
        from rnnpipe.core.serving import CHECKPOINT_DIGEST_KEY

        # Explicit requirements: MLflow's own inference re-imports the model in a subprocess (~10 s per model).
        requirements = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}",
                        f"pandas=={pd.__version__}", f"pydantic=={_version('pydantic')}",
                        f"mlflow=={mlflow.__version__}", f"PyYAML=={_version('PyYAML')}"]
        model_config = {CHECKPOINT_DIGEST_KEY: file_digest(checkpoint), "limits": dict(limits)}
        info = mlflow.pyfunc.log_model(name=name, python_model=str(model_code), model_config=model_config,
                                       artifacts={"checkpoint": str(checkpoint)},
                                       code_paths=[str(Path(rnnpipe.__file__).parent)], signature=signature,
                                       input_example=input_example, pip_requirements=requirements,
                                       registered_model_name=REGISTERED_MODELS[kind])
        version = info.registered_model_version
        if version is not None:
            for key, value in {**self.stage_tags(), "git_commit": git_commit(self.root)}.items():
                self.client.set_model_version_tag(REGISTERED_MODELS[kind], str(version), key, value)


    @uninterrupted()
    def promote(self, kind: str, value: float, data_md5: str) -> None:
        """After evaluation: tag the evaluated version and make it @champion if it beats the champion on the same
        data (rnnpipe.core.registry); prints what happened in one line."""
        if not self.enabled:
            return
        from rnnpipe.core.registry import promote

        extra = {**self.stage_tags(), "git_commit": git_commit(self.root)}
        extra.pop("dvc_stage", None)
        with self._store_lock():  # SQLite: one promoter at a time; a server relies on promote's re-check
            result = promote(self.client, REGISTERED_MODELS[kind], kind, self.run_id, value, data_md5, extra)
        if result is not None:
            print(result.line(REGISTERED_MODELS[kind]))


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


def run_tags_from_env() -> dict[str, str]:
    """Tags a caller gives every training run it starts, as JSON in RNNPIPE_RUN_TAGS: a sweep agent names the sweep,
    the trial and the parent run (mlflow.parentRunId), so the UI nests a sweep's runs under one row."""
    text = os.environ.get(RUN_TAGS_ENV)
    if not text:
        return {}
    try:
        tags = json.loads(text)
    except ValueError:
        raise TrackingError(f"{RUN_TAGS_ENV} = {text[:80]!r} is invalid: allowed is a JSON object of tags") from None
    if not isinstance(tags, dict):
        raise TrackingError(f"{RUN_TAGS_ENV} = {text[:80]!r} is invalid: allowed is a JSON object of tags")
    return {str(key): str(value) for key, value in tags.items()}


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def shared_view_state(kind: str) -> str:
    """The experiment page's shared view (experiment tag mlflow.sharedViewState.<key>): the headline metrics and
    params as columns, runs sorted by the test metric; opened by ?viewStateShareKey=<key> in the runs table URL."""
    metrics, params = HEADLINE_COLUMNS[kind]
    columns = ["attributes.`Models`", "attributes.`Dataset`"] + [f"metrics.`{m}`" for m in metrics] \
        + [f"params.`{p}`" for p in params] + ["tags.`dvc_exp_name`", "tags.`git_commit`"]
    return json.dumps({"selectedColumns": columns, "orderByKey": f"metrics.`{metrics[0]}`", "orderByAsc": True,
                       "runsHiddenMode": "SHOW_ALL", "searchFilter": ""})


def init_store(uri: Optional[str] = None) -> None:
    """Create the store and both experiments up front (before `dvc queue start -j N`, for example)."""
    tracker = Tracker(True, uri)
    for kind in EXPERIMENTS:
        print(f"{EXPERIMENTS[kind]}: experiment {tracker.experiment_id(kind)} in {tracker.uri}; runs table: "
              f"{tracker.runs_table_url(kind)}")


if __name__ == "__main__":
    from rnnpipe.core.errors import run_stage

    run_stage(lambda: init_store(sys.argv[1] if len(sys.argv) > 1 else None))

"""MLflow for the stages: one run per training, evaluation and samples attached to the model's run.

- One experiment per model (its descriptor names it), tagged as model development so the UI opens on the runs
  table, with a shared view of the model's headline columns (`runs_table_url`).
- One run per training-stage execution, named after the DVC experiment (or after what it trains), with system
  metrics; per-epoch metrics carry their unit in their name (`val_mse`, `val_bits_per_char`). The model is logged
  as a pyfunc that serves what a user wants (text for a prompt, a forecast for recent values) and registered as a
  new version of the model; rnnpipe.tracking.registry promotes the best evaluated version to @champion.
- Evaluation and generation attach to the run of the model they used, found by the tag rnnpipe.model_sha256.
- A run whose process died (kill -9, power cut) is closed as KILLED the next time the stage starts.
- Nothing from here is ever written into a DVC-tracked output (run ids and times are not deterministic), which is
  why no stage lists this package among its dependencies.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from rnnpipe.core.descriptor import ModelDescriptor
from rnnpipe.core.errors import TrackingError, first_line
from rnnpipe.tracking.store import (artifact_location, check_reachable, default_uri, get_or_create_experiment,
                                    git_commit, process_alive, project_root, resolve_uri, retry_locked, store_lock,
                                    uninterrupted)

MODEL_TAG = "rnnpipe.model_sha256"
PID_TAG, HOST_TAG = "rnnpipe.pid", "rnnpipe.host"
SHARED_VIEW = "rnnpipe-headline"
RUN_TAGS_ENV = "RNNPIPE_RUN_TAGS"
# What SQLite and PostgreSQL say when an insert breaks a unique key.
DUPLICATE_KEY = ("UNIQUE constraint failed", "duplicate key value violates unique constraint")


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


class Tracker:
    """MLflow for the stages; with enabled=False every method does nothing and MLflow is never imported."""

    def __init__(self, enabled: bool, uri: Optional[str] = None, create: bool = True):
        self.enabled = enabled
        self.uri = resolve_uri(uri) if enabled else None
        self.root = project_root()
        if not enabled:
            return
        check_reachable(self.uri, must_exist=not create)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "5")
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        self.mlflow = mlflow
        # Opening a SQLite store runs MLflow's schema migrations: two queue workers doing that at once corrupt
        # the version table, so the first open happens under the lock.
        with store_lock(self.uri):
            try:
                self.client = mlflow.MlflowClient(self.uri)
                self.client.search_experiments(max_results=1)
            except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
                raise TrackingError(f"MLflow store {self.uri} is not usable: {first_line(exc)}") from None

    # -- setup -----------------------------------------------------------------------------------------------

    def _refuse_a_copied_store(self, found: Any) -> None:
        """A repository copied with its mlflow.db: the experiments still point at the original's mlruns, and new
        runs would write their artifacts into the other folder."""
        expected = artifact_location(found.name, self.root)
        if found.artifact_location != expected:
            where = found.artifact_location.removeprefix("file://")
            raise TrackingError(
                f"{self.root / 'mlflow.db'} came from another folder: experiment {found.name} keeps its artifacts in "
                f"{where}, not in {self.root / 'mlruns'}; move it aside (mv mlflow.db mlflow.db.copied) to "
                f"start a store here, or log into the original with MLFLOW_TRACKING_URI")

    def experiment_id(self, model: ModelDescriptor) -> str:
        """Get or create the model's experiment. The file lock serialises SQLite writers on one machine; against a
        server, parallel workers may race to create it, and the loser's RESOURCE_ALREADY_EXISTS means it exists."""
        name = model.experiment
        tags = {"mlflow.experimentKind": "custom_model_development",
                f"mlflow.sharedViewState.{SHARED_VIEW}": shared_view_state(model)}
        location = artifact_location(name, self.root) if self.uri.startswith("sqlite:") else None
        with store_lock(self.uri):
            try:
                found = get_or_create_experiment(self.client, name, tags, location)
                if self.uri == default_uri(self.root):
                    self._refuse_a_copied_store(found)
                for key, value in tags.items():  # a store made before a tag existed gets it too
                    if found.tags.get(key) != value:
                        self.client.set_experiment_tag(found.experiment_id, key, value)
                return found.experiment_id
            except TrackingError:
                raise
            except Exception as exc:  # MlflowException, SQLAlchemy and HTTP errors alike
                raise TrackingError(f"MLflow store {self.uri} is not usable: {first_line(exc)}") from None

    def runs_table_url(self, model: ModelDescriptor) -> Optional[str]:
        """The experiment's runs table with the headline columns, for a server's UI (None for other stores)."""
        if not self.enabled:
            return None
        base = self.uri if self.uri.startswith("http") else "http://127.0.0.1:5000"
        return (f"{base.rstrip('/')}/#/experiments/{self.experiment_id(model)}/runs?workflowType=machine_learning"
                f"&viewStateShareKey={SHARED_VIEW}")

    # -- runs ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def training_run(self, model: ModelDescriptor, params: dict[str, Any], tags: dict[str, str], name: str,
                     datasets: Optional[dict[str, tuple[str, str]]] = None) -> Iterator["Tracker"]:
        """One run for one training: every param, the given tags, inputs as MLflow datasets {name: (path, md5)}."""
        if not self.enabled:
            yield self
            return
        experiment_id = self.experiment_id(model)
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
    def model_run(self, model: ModelDescriptor, model_sha256: str) -> Iterator["Tracker"]:
        """Resume the run that trained the model with this sha256 (the newest such run).

        A training stage restored from DVC's run cache never ran, so no run may exist: then a run is created
        for the model, tagged so, and the evaluation lands there.
        """
        if not self.enabled:
            yield self
            return
        experiment_id = self.experiment_id(model)
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
                                   run_name=f"{model.kind} model {model_sha256[:12]} (no training run)") as run:
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
        dataset = MetaDataset(source, name=name, digest=md5[:10])
        try:
            self.mlflow.log_input(dataset, context=context)
        except Exception as exc:
            # Two runs logging the same new dataset at once (queue workers, sweep agents): MLflow looks the dataset
            # up, then inserts it, and the slower insert breaks its unique key. It exists now: once more links it.
            if not any(text in str(exc) for text in DUPLICATE_KEY):
                raise
            self.mlflow.log_input(dataset, context=context)

    @uninterrupted()
    def log_model(self, model: ModelDescriptor, model_code: str | Path, checkpoint: str | Path, signature: Any,
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
                                       registered_model_name=model.experiment)
        version = info.registered_model_version
        if version is not None:
            for key, value in {**self.stage_tags(), "git_commit": git_commit(self.root)}.items():
                self.client.set_model_version_tag(model.experiment, str(version), key, value)


    @uninterrupted()
    def promote(self, model: ModelDescriptor, value: float, data_md5: str) -> None:
        """After evaluation: tag the evaluated version and make it @champion if it beats the champion on the same
        data (rnnpipe.tracking.registry); prints what happened in one line."""
        if not self.enabled:
            return
        from rnnpipe.tracking.registry import promote

        extra = {**self.stage_tags(), "git_commit": git_commit(self.root)}
        extra.pop("dvc_stage", None)
        with store_lock(self.uri):  # SQLite: one promoter at a time; a server relies on promote's re-check
            result = promote(self.client, model, self.run_id, value, data_md5, extra)
        if result is not None:
            print(result.line(model.experiment))


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


def shared_view_state(model: ModelDescriptor) -> str:
    """The experiment page's shared view (experiment tag mlflow.sharedViewState.<key>): the headline metrics and
    params as columns, runs sorted by the test metric; opened by ?viewStateShareKey=<key> in the runs table URL."""
    metrics, params = model.headline_metrics, model.headline_params
    columns = ["attributes.`Models`", "attributes.`Dataset`"] + [f"metrics.`{m}`" for m in metrics] \
        + [f"params.`{p}`" for p in params] + ["tags.`dvc_exp_name`", "tags.`git_commit`"]
    return json.dumps({"selectedColumns": columns, "orderByKey": f"metrics.`{metrics[0]}`", "orderByAsc": True,
                       "runsHiddenMode": "SHOW_ALL", "searchFilter": ""})

"""`bash scripts/team_services.sh check`: is this clone ready for the team stack, and is every model explained?

One line per finding: `ok: ...` on stdout, `error: <what> ...: <what to do>` on stderr; exit code 1 if any error.
Checks, in order: the team extra (dvc-s3, boto3), the default DVC remote and its S3 credentials (a real request
to the bucket), the MLflow server (MLFLOW_TRACKING_URI or params.yaml tracking.uri), the sweep storage when
RNNPIPE_SWEEP_STORAGE names a PostgreSQL database (a real login), and then each model in the
workspace: a model that DVC restored (dvc pull, dvc repro --pull, dvc exp apply) was logged by whoever trained it,
and the shared server finds that run by the model's sha256 (tag rnnpipe.model_sha256). A model with no such run
is reported, with the command that logs one.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

SETUP_HINT = "run RNNPIPE_EXTRAS=team bash scripts/setup.sh (or pip install -c constraints.txt -e '.[team]')"
MODEL_TAG = "rnnpipe.model_sha256"  # rnnpipe.tracking.runs.MODEL_TAG
EXPERIMENTS = {"forecaster": "rnnpipe-forecaster", "charrnn": "rnnpipe-charrnn"}


class Report:
    def __init__(self) -> None:
        self.errors = 0

    def ok(self, message: str) -> None:
        print(f"ok: {message}", flush=True)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr, flush=True)
        self.errors += 1


def check(root: Path) -> int:
    # Never ask the EC2 metadata address for credentials: on this machine only 127.0.0.1 is ours to talk to.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    report = Report()
    try:
        import boto3  # noqa: F401
        import dvc_s3  # noqa: F401
    except ImportError as exc:
        report.error(f"the team extra is missing from {sys.executable} ({exc}): {SETUP_HINT}")
        return 1
    report.ok(f"the team extra (boto3, dvc-s3) is installed in {sys.prefix}")
    check_remote(root, report)
    uri = check_mlflow(root, report)
    check_sweep_storage(os.environ.get("RNNPIPE_SWEEP_STORAGE", ""), report)
    if uri is not None:
        check_models(root, uri, report)
    return 1 if report.errors else 0


def check_remote(root: Path, report: Report) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
    from dvc.repo import Repo

    config = Repo(str(root)).config
    name = config["core"].get("remote")
    if not name:
        if "team" in config["remote"]:
            report.error("this clone has no default DVC remote: run `dvc remote default --local team` (plus the "
                         "endpointurl and key lines that team_services.sh start prints)")
        else:
            report.error(f"{root} has no DVC remote 'team': git pull the commit that adds it to .dvc/config")
        return
    if name not in config["remote"]:
        report.error(f"the default DVC remote '{name}' is not defined: run `dvc remote default --local team`")
        return
    remote = config["remote"][name]
    url = remote["url"]
    if not url.startswith("s3://"):
        report.ok(f"DVC remote '{name}' is {url} (not S3: nothing more to check here)")
        return
    bucket = url[len("s3://"):].split("/", 1)[0]
    endpoint = remote.get("endpointurl")
    where = endpoint or "AWS S3"
    session = boto3.Session(aws_access_key_id=remote.get("access_key_id"),
                            aws_secret_access_key=remote.get("secret_access_key"),
                            profile_name=remote.get("profile"))
    if session.get_credentials() is None:
        report.error(f"no S3 credentials for DVC remote '{name}' ({url} at {where}): run `dvc remote modify --local "
                     f"{name} access_key_id ...` and `... secret_access_key ...` (team_services.sh start prints "
                     "them), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return
    client = session.client("s3", endpoint_url=endpoint, region_name=remote.get("region") or "us-east-1",
                            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}))
    try:
        client.head_bucket(Bucket=bucket)
    except EndpointConnectionError:
        report.error(f"the S3 endpoint {where} of DVC remote '{name}' is unreachable: start it (bash "
                     f"scripts/team_services.sh start) or fix it (dvc remote modify --local {name} endpointurl URL)")
        return
    except NoCredentialsError:
        report.error(f"no S3 credentials for DVC remote '{name}': run `dvc remote modify --local {name} "
                     "access_key_id ...` and `... secret_access_key ...`")
        return
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            report.error(f"bucket '{bucket}' of DVC remote '{name}' does not exist at {where}: create it, or point "
                         f"the remote at yours (dvc remote modify {name} url s3://BUCKET/dvcstore)")
        elif code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            report.error(f"{where} refused the S3 credentials of DVC remote '{name}' ({code}): fix access_key_id and "
                         f"secret_access_key (dvc remote modify --local {name} ...)")
        else:
            report.error(f"S3 request to bucket '{bucket}' at {where} failed ({code or exc}): check `dvc push -v`")
        return
    except BotoCoreError as exc:
        report.error(f"S3 request to bucket '{bucket}' at {where} failed ({exc}): check `dvc push -v`")
        return
    report.ok(f"DVC remote '{name}' ({url} at {where}) answers with these credentials")


def tracking_settings(root: Path) -> tuple[bool, str | None]:
    import yaml

    try:
        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    except OSError:
        params = {}
    tracking = params.get("tracking") or {}
    return bool(tracking.get("enabled", True)), os.environ.get("MLFLOW_TRACKING_URI") or tracking.get("uri")


def check_mlflow(root: Path, report: Report) -> str | None:
    enabled, uri = tracking_settings(root)
    if not enabled:
        report.error("tracking.enabled is false in params.yaml: no MLflow run explains the models trained here; "
                     "set it to true")
        return None
    if not uri or not uri.startswith(("http://", "https://")):
        report.error(f"MLFLOW_TRACKING_URI is {'not set' if not uri else repr(uri)}: this clone logs to its own store, "
                     "which no teammate sees; export MLFLOW_TRACKING_URI=http://HOST:PORT of the team's mlflow server "
                     "(team_services.sh start prints it)")
        return None
    sys.path.insert(0, str(root / "src"))
    from rnnpipe.core.errors import TrackingError
    from rnnpipe.tracking.store import check_reachable

    try:
        check_reachable(uri)
    except TrackingError as exc:
        report.error(str(exc))
        return None
    report.ok(f"MLflow server {uri} answers")
    return uri


def check_sweep_storage(storage: str, report: Report) -> None:
    """A PostgreSQL study database must let this clone log in: every sweep agent opens it directly."""
    if not storage.startswith("postgresql"):
        return
    import psycopg2
    from sqlalchemy.engine import make_url

    try:
        url = make_url(storage)
    except Exception as exc:  # SQLAlchemy's ArgumentError, ValueError for a bad port
        report.error(f"RNNPIPE_SWEEP_STORAGE is not a database URL ({exc}): copy it from "
                     "`bash scripts/team_services.sh env`")
        return
    shown = url.render_as_string(hide_password=True)
    try:
        psycopg2.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        report.error(f"the sweep storage {shown} refused this clone ({reason}): copy RNNPIPE_SWEEP_STORAGE from "
                     "`bash scripts/team_services.sh env` on the team's machine")
        return
    report.ok(f"sweep storage {shown} answers")


def check_models(root: Path, uri: str, report: Report) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    for kind, experiment_name in EXPERIMENTS.items():
        path = root / "models" / kind / "model.pt"
        shown = path.relative_to(root)
        if not path.is_file():
            report.ok(f"{shown} is not in the workspace (dvc pull or dvc repro brings it)")
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        experiment = client.get_experiment_by_name(experiment_name)
        runs = [] if experiment is None else client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`{MODEL_TAG}` = '{sha}'",
            order_by=["attributes.start_time ASC"], max_results=1)
        if not runs:
            report.error(f"{shown} (sha256 {sha[:12]}) has no MLflow run in {uri}: it was trained with another "
                         f"tracking store or with tracking off, and DVC restored it from its cache; log a run for "
                         f"it with `dvc repro --force train_{kind}`")
            continue
        run = runs[0]
        report.ok(f"{shown} is MLflow run {run.info.run_name} ({uri}/#/experiments/{experiment.experiment_id}/runs/"
                  f"{run.info.run_id})")

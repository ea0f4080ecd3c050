"""The team stack for real: PostgreSQL, the S3 API server that keeps objects on disk (scripts/team_s3_server.py) and
`mlflow server` on both, started by scripts/team_services.sh on this machine; two clones of the project share runs,
data and the run cache.

Nothing is mocked: the services are real processes on 127.0.0.1, DVC talks S3 to the object store, MLflow keeps its
runs in PostgreSQL (counted there with SQL) and its artifacts in the bucket. The clients (dvc, the stages, this test
process) hold no database driver settings and no S3 keys for MLflow: the server proxies artifacts.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from rnnpipe.core.io import file_digest
from rnnpipe.tracking.runs import MODEL_TAG
from tests.integration.helpers import BIN, REPO, RepoCopy, make_copy, subprocess_env

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "team_services.sh"
DATA_OUTS = ["data/series/signal.csv", "data/series/ar1.csv", "data/corpus/train.txt", "data/corpus/vocab.json",
             "models/forecaster/model.pt", "models/charrnn/model.pt", "plots/series/series.png",
             "plots/charrnn/loss.png", "samples/forecast.png", "samples/text.md"]
# Run-cacheable means: no `cache: false` output other than a metric or a plot (DVC skips such stages entirely).
TRAINING_STAGES = ("train_forecaster", "evaluate_forecaster", "forecast")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def one_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """A failure that is exactly one `error:` line, naming every needle (DVC may add its own `ERROR: failed to
    reproduce ...` around a stage's line)."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = errors(result.stderr)
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@dataclass
class Team:
    state: Path
    env: dict[str, str]            # for team_services.sh
    uri: str                       # MLFLOW_TRACKING_URI of the server
    dvc_lines: list[list[str]]     # the `dvc remote ... --local` commands `start` printed
    config: dict[str, str]         # ports, passwords, S3 keys (config.env)
    sweep_storage: str             # RNNPIPE_SWEEP_STORAGE that `start` printed

    def script(self, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
               timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(cwd / "scripts" / "team_services.sh"), *args], cwd=cwd,
                              env=env or self.env, capture_output=True, text=True, timeout=timeout)

    def client_env(self, **extra: str) -> dict[str, str]:
        """A teammate's shell: the tracking URI, and no S3 or database credentials anywhere."""
        env = {k: v for k, v in subprocess_env().items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                            "AWS_DEFAULT_PROFILE") and not k.startswith("PG")}
        env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials", AWS_CONFIG_FILE="/nonexistent/aws-config",
                   AWS_EC2_METADATA_DISABLED="true", MLFLOW_TRACKING_URI=self.uri, RNNPIPE_PYTHON=sys.executable)
        env.update(extra)
        return env

    def configure(self, copy: RepoCopy, skip: tuple[str, ...] = ()) -> None:
        for line in self.dvc_lines:
            if not any(word in line for word in skip):
                copy.dvc(*line[1:])

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.config['S3_PORT']}", region_name="us-east-1",
                            aws_access_key_id=self.config["S3_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.config["S3_SECRET_ACCESS_KEY"])

    def sql(self, query: str) -> list[tuple]:
        """Ask PostgreSQL itself, as the role MLflow uses."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=int(self.config["PG_PORT"]), user="mlflow",
                                      password=self.config["PG_PASSWORD"], dbname="mlflow", connect_timeout=10)
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                return cursor.fetchall()
        finally:
            connection.close()


def unavailable() -> str | None:
    """Why this machine cannot run the team stack, in words a reader can act on; None if it can."""
    try:
        import boto3  # noqa: F401
        import dvc_s3  # noqa: F401
        import psycopg2  # noqa: F401
    except ImportError as exc:
        return (f"the team extra is not installed in {sys.executable} ({exc}): "
                "RNNPIPE_EXTRAS=team bash scripts/setup.sh")
    if not sys.platform.startswith("linux"):
        return "the team stack script runs PostgreSQL the Linux way (runuser, /usr/lib/postgresql)"
    if any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or os.environ.get("RNNPIPE_PG_BINDIR"):
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        return None  # team_services.sh installs Debian's postgresql
    return "PostgreSQL's server is not installed and only root can apt-get it: sudo apt-get install -y postgresql"


@pytest.fixture(scope="module")
def team():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    # Not under pytest's 0700 tmp folders: the postgres OS user must reach its data folder.
    state = Path(tempfile.mkdtemp(prefix="rnnpipe-team-"))
    env = subprocess_env(RNNPIPE_TEAM_DIR=str(state), RNNPIPE_PYTHON=sys.executable, AWS_EC2_METADATA_DISABLED="true")
    started = subprocess.run(["bash", str(SCRIPT), "start"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=900)
    try:
        assert started.returncode == 0, started.stderr
        lines = started.stdout.splitlines()
        uri = next(line.split("=", 1)[1] for line in lines if line.startswith("export MLFLOW_TRACKING_URI="))
        dvc_lines = [shlex.split(line) for line in lines if line.startswith("dvc remote ")]
        config = dict(line.split("=", 1) for line in (state / "config.env").read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
        sweep_storage = next(line.split("=", 1)[1] for line in lines
                             if line.startswith("export RNNPIPE_SWEEP_STORAGE="))
        yield Team(state, env, uri, dvc_lines, config, sweep_storage)
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop"], cwd=REPO, env=env, capture_output=True, text=True,
                                 timeout=300)
        shutil.rmtree(state, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="module")
def clone_a(team, tmp_path_factory, warm_stages) -> RepoCopy:
    """Teammate A: the project with tiny params, one `dvc repro` against the team server, committed."""
    copy = make_copy(tmp_path_factory.mktemp("team-a") / "repo",
                     {"tracking": {"enabled": True}, "runtime": {"threads": 1}}, env=team.client_env())
    team.configure(copy)
    copy.repro(env_extra=warm_stages)
    copy.commit("results")
    return copy


@pytest.fixture(scope="module")
def origin(clone_a, tmp_path_factory) -> Path:
    """The git remote the team shares (a bare repository)."""
    path = tmp_path_factory.mktemp("team-origin") / "origin.git"
    clone_a.run("git", "init", "-q", "--bare", str(path))
    clone_a.run("git", "remote", "add", "origin", str(path))
    clone_a.run("git", "push", "-q", "origin", "main")
    return path


@pytest.fixture(scope="module")
def clone_b(team, origin, tmp_path_factory) -> RepoCopy:
    """Teammate B: a fresh `git clone` of the shared repository, set up with the lines `start` printed."""
    root = tmp_path_factory.mktemp("team-b") / "repo"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(root)], check=True, capture_output=True)
    copy = RepoCopy(root, team.client_env())
    copy.run("git", "config", "user.email", "b@rnnpipe.local")
    copy.run("git", "config", "user.name", "teammate b")
    team.configure(copy)
    return copy


def mlflow_client(team: Team):
    from mlflow.tracking import MlflowClient

    return MlflowClient(team.uri)


def runs_of(team: Team, kind: str) -> list:
    client = mlflow_client(team)
    experiment = client.get_experiment_by_name(f"rnnpipe-{kind}")
    assert experiment is not None, kind
    return client.search_runs([experiment.experiment_id])


def finished_runs_in_postgres(team: Team) -> int:
    return team.sql("SELECT count(*) FROM runs WHERE status = 'FINISHED' AND lifecycle_stage = 'active'")[0][0]


# -- 1. services up; the pipeline against the server ------------------------------------------------------------------

def test_start_is_idempotent_and_status_reports_each_service(team):
    pids = {name: (team.state / f"{name}.pid").read_text() for name in ("s3", "mlflow")}
    again = team.script("start")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("already running") == 3, again.stderr
    assert {name: (team.state / f"{name}.pid").read_text() for name in pids} == pids
    status = team.script("status")
    assert status.returncode == 0, status.stderr
    for service in ("postgres: running", "s3: running", "mlflow: running"):
        assert service in status.stderr, status.stderr
    env = team.script("env")
    assert env.stdout.splitlines() == [f"export MLFLOW_TRACKING_URI={team.uri}",
                                       f"export RNNPIPE_SWEEP_STORAGE={team.sweep_storage}"]


def test_sweep_storage_is_a_database_of_the_teams_postgresql(team):
    import optuna

    assert team.sweep_storage.endswith(f"@127.0.0.1:{team.config['PG_PORT']}/optuna")
    study = optuna.create_study(storage=team.sweep_storage, study_name="team-storage")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    again = optuna.load_study(study_name="team-storage", storage=team.sweep_storage)  # as a second agent would
    assert [t.state.name for t in again.trials] == ["COMPLETE", "COMPLETE"]


def test_pipeline_logs_runs_history_evaluation_and_models_to_postgres_and_the_bucket(team, clone_a):
    import mlflow
    import numpy as np
    import pandas as pd

    from rnnpipe.charrnn.generate import generate_text
    from rnnpipe.charrnn.model import load_charrnn
    from rnnpipe.forecaster.forecast import recursive_forecast
    from rnnpipe.forecaster.model import load_forecaster

    client = mlflow_client(team)
    params = clone_a.params()
    bucket_keys = {item["Key"] for page in team.s3().get_paginator("list_objects_v2").paginate(Bucket="rnnpipe")
                   for item in page.get("Contents", [])}
    for kind, metric, evaluated in (("forecaster", "test_mse", "metrics/forecaster.json"),
                                    ("charrnn", "test_bits_per_char", "metrics/charrnn.json")):
        runs = runs_of(team, kind)
        assert len(runs) == 1, kind
        run = runs[0]
        assert run.info.status == "FINISHED"
        unit = "mse" if kind == "forecaster" else "bits_per_char"
        for name in (f"train_{unit}", f"val_{unit}"):
            history = client.get_metric_history(run.info.run_id, name)
            assert [m.step for m in history] == list(range(1, params[kind]["epochs"] + 1)), (kind, name)
        assert run.data.tags[MODEL_TAG] == file_digest(clone_a.root / f"models/{kind}/model.pt")
        score = json.loads((clone_a.root / evaluated).read_text())
        assert run.data.metrics[metric] == pytest.approx(score["test_mse" if kind == "forecaster" else "bits_per_char"])
        # The artifacts went through the server into the bucket (this process holds no S3 key for MLflow).
        prefix = f"mlartifacts/{run.info.experiment_id}/"
        assert f"{prefix}{run.info.run_id}/artifacts/loss.png" in bucket_keys
        assert any(key.startswith(f"{prefix}models/") and key.endswith("/MLmodel") for key in bucket_keys), kind
        versions = client.search_model_versions(f"name='rnnpipe-{kind}'")
        assert [v.run_id for v in versions] == [run.info.run_id]

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(team.uri)
    try:  # models:/ through the server predicts like the DVC model: the champion of each kind
        config, local = load_forecaster(clone_a.root / "models/forecaster/model.pt")
        recent = np.cos(np.linspace(0, 3, 30))
        got = mlflow.pyfunc.load_model("models:/rnnpipe-forecaster@champion").predict(
            pd.DataFrame({"value": recent}), params={"horizon": 5})
        np.testing.assert_allclose(got["forecast"], recursive_forecast(local, recent[-config.seq_length:], 5),
                                   rtol=1e-6, atol=1e-7)
        config, local = load_charrnn(clone_a.root / "models/charrnn/model.pt")
        got = mlflow.pyfunc.load_model("models:/rnnpipe-charrnn@champion").predict(
            pd.DataFrame({"prompt": ["мой дядя"]}), params={"n_chars": 20, "method": "greedy"})
        assert list(got["text"]) == ["мой дядя" + generate_text(local, config.vocab, "мой дядя", 20, config.mode,
                                                                 config.seq_length)]
    finally:
        mlflow.set_tracking_uri(previous)

    assert finished_runs_in_postgres(team) == 2  # one per training stage, counted by PostgreSQL itself
    assert team.sql("SELECT count(*) FROM model_versions")[0][0] == 2


# -- 2. two queued experiments, two workers, one server -----------------------------------------------------------------

def test_two_queued_experiments_with_two_workers_lose_nothing(team, clone_a, warm_stages):
    for hidden in (3, 5):
        clone_a.dvc("exp", "run", "--queue", "-S", f"forecaster.hidden_size={hidden}", "-n", f"q{hidden}")
    status = clone_a.run_queue(2, timeout=600, env_extra=warm_stages)  # the stages in warm forks: the store is tested
    assert status.count("Success") == 2, status + "\n".join(
        clone_a.dvc("queue", "logs", f"q{h}", check=False).stdout[-3000:] for h in (3, 5))

    runs = runs_of(team, "forecaster")
    assert sorted(r.data.params["forecaster.hidden_size"] for r in runs) == ["3", "4", "5"]
    assert all(r.info.status == "FINISHED" for r in runs)
    queued = [r for r in runs if r.data.tags.get("dvc_exp_name") in ("q3", "q5")]
    assert len(queued) == 2
    assert all({"test_mse", "forecast_mse_vs_clean"} <= set(r.data.metrics) for r in queued)  # evaluation attached
    assert len(mlflow_client(team).search_model_versions("name='rnnpipe-forecaster'")) == 3
    assert len(runs_of(team, "charrnn")) == 1
    assert finished_runs_in_postgres(team) == 4


# -- 3. push to the S3 remote; a fresh clone pulls ------------------------------------------------------------------

def test_a_fresh_clone_pulls_everything_and_reruns_nothing(team, clone_a, clone_b):
    clone_a.dvc("push")
    pushed = clone_a.run(sys.executable, "scripts/team_push_run_cache.py")
    assert "run cache:" in pushed.stdout
    keys = {item["Key"] for page in team.s3().get_paginator("list_objects_v2").paginate(Bucket="rnnpipe",
                                                                                         Prefix="dvcstore/")
            for item in page.get("Contents", [])}
    assert any(key.startswith("dvcstore/files/md5/") for key in keys)
    assert any(key.startswith("dvcstore/runs/") for key in keys)

    clone_b.dvc("pull")
    assert "up to date" in clone_b.dvc("status").stdout
    assert RepoCopy.ran_stages(clone_b.repro().stdout) == set()
    for path in DATA_OUTS:
        assert (clone_b.root / path).read_bytes() == (clone_a.root / path).read_bytes(), path
    assert clone_b.run("git", "status", "--porcelain").stdout == ""
    check = team.script("check", env=clone_b.env, cwd=clone_b.root)
    assert check.returncode == 0, check.stderr
    assert check.stdout.count("ok: models/") == 2
    assert check.stdout.startswith("ok: the team extra (boto3, dvc-s3) is installed in "), check.stdout


# -- 4. B reaches a parameter set A already ran: restored from the run cache, explained by A's run ------------------

def test_repro_pull_restores_a_teammates_run_from_the_run_cache_and_its_mlflow_run_explains_it(team, clone_a, clone_b):
    pipeline = yaml.safe_load((clone_b.root / "dvc.yaml").read_text())
    uncached = {name: [next(iter(out)) for out in pipeline["stages"][name].get("outs", [])
                       if isinstance(out, dict) and next(iter(out.values())).get("cache") is False]
                for name in TRAINING_STAGES}
    uncached = {name: outs for name, outs in uncached.items() if outs}
    assert not uncached, (f"dvc.yaml: {uncached} are `cache: false` outs that are neither metrics nor plots, so DVC "
                          "never puts these stages in its run cache; declare them under the stage's `plots:` "
                          "(docs/team.md, 'The run cache')")
    runs_before = {r.info.run_id for r in runs_of(team, "forecaster")}
    q5 = next(r for r in runs_of(team, "forecaster") if r.data.tags.get("dvc_exp_name") == "q5")

    clone_b.set_params({"forecaster": {"hidden_size": 5}})
    result = clone_b.repro("--pull")
    assert RepoCopy.ran_stages(result.stdout) == set(), result.stdout
    assert "Stage 'train_forecaster' is cached - skipping run" in result.stdout
    assert file_digest(clone_b.root / "models/forecaster/model.pt") == q5.data.tags[MODEL_TAG]
    assert "up to date" in clone_b.dvc("status").stdout
    # No training, so no new run: the shared server already holds A's run for this very model.
    assert {r.info.run_id for r in runs_of(team, "forecaster")} == runs_before
    check = team.script("check", env=clone_b.env, cwd=clone_b.root)
    assert check.returncode == 0, check.stderr
    assert "models/forecaster/model.pt is MLflow run q5 " in check.stdout


def test_exp_push_and_pull_share_an_experiment_with_its_data(team, clone_a, clone_b):
    clone_a.dvc("exp", "push", "origin", "q3")
    clone_b.run("git", "checkout", "-q", "--", ".")
    clone_b.dvc("exp", "pull", "origin", "q3")
    clone_b.dvc("exp", "apply", "q3")
    q3 = next(r for r in runs_of(team, "forecaster") if r.data.tags.get("dvc_exp_name") == "q3")
    assert file_digest(clone_b.root / "models/forecaster/model.pt") == q3.data.tags[MODEL_TAG]
    assert clone_b.params()["forecaster"]["hidden_size"] == 3
    assert "up to date" in clone_b.dvc("status").stdout


# -- 5. one-line errors ---------------------------------------------------------------------------------------------

def test_missing_credentials_dead_servers_wrong_password_and_missing_extra_are_one_line_each(team, origin, clone_b,
                                                                                          tmp_path):
    # A clone whose owner skipped the key lines.
    root = tmp_path / "c"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(root)], check=True, capture_output=True)
    clone_c = RepoCopy(root, team.client_env())
    team.configure(clone_c, skip=("access_key_id", "secret_access_key"))
    one_error(team.script("check", env=clone_c.env, cwd=root), "no S3 credentials", "'team'", "access_key_id")
    pulled = clone_c.dvc("pull", check=False)
    assert pulled.returncode != 0 and "Unable to locate credentials" in pulled.stderr

    # The object store is down (nothing listens on its port).
    clone_c.dvc("remote", "modify", "--local", "team", "access_key_id", "k")
    clone_c.dvc("remote", "modify", "--local", "team", "secret_access_key", "s")
    dead = f"http://127.0.0.1:{free_port()}"
    clone_c.dvc("remote", "modify", "--local", "team", "endpointurl", dead)
    one_error(team.script("check", env=clone_c.env, cwd=root), "unreachable", dead)

    # The MLflow server is down: check says so, and training stops before it starts, in one line.
    dead_env = {**clone_b.env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    one_error(team.script("check", env=dead_env, cwd=clone_b.root), "is unreachable", dead_env["MLFLOW_TRACKING_URI"])
    before = file_digest(clone_b.root / "models/forecaster/model.pt")
    stopped = subprocess.run([str(BIN / "dvc"), "repro", "--single-item", "--force", "train_forecaster"], cwd=clone_b.root,
                             env=dead_env, capture_output=True, text=True, timeout=300)
    one_error(stopped, "is unreachable", dead_env["MLFLOW_TRACKING_URI"])
    assert "epoch" not in stopped.stdout + stopped.stderr  # stopped before training
    clone_b.dvc("checkout", "models/forecaster/model.pt")  # DVC removed the output before running the stage
    assert file_digest(clone_b.root / "models/forecaster/model.pt") == before

    # The database password in the team folder is wrong: `start` says so in one line; the services keep running.
    config = team.state / "config.env"
    saved = config.read_text()
    config.write_text(saved.replace(f"PG_PASSWORD={team.config['PG_PASSWORD']}", "PG_PASSWORD=wrong"))
    try:
        one_error(team.script("start"), "refused the password of role mlflow", str(config))
    finally:
        config.write_text(saved)
    assert team.script("status").returncode == 0

    # A Python without the team extra.
    bare = tmp_path / "bare-venv"
    venv.EnvBuilder(with_pip=False).create(bare)
    one_error(team.script("start", env={**team.env, "RNNPIPE_PYTHON": str(bare / "bin" / "python")}),
              "the team extra is missing", "RNNPIPE_EXTRAS=team")


def test_a_model_no_mlflow_run_explains_is_reported(team, clone_b):
    """A model trained with tracking off (or against another store) reaches the team through DVC: check names it."""
    clone_b.set_params({"tracking": {"enabled": False}, "forecaster": {"hidden_size": 9}})
    clone_b.repro("train_forecaster")
    clone_b.set_params({"tracking": {"enabled": True}})  # not a DVC param: nothing reruns
    result = team.script("check", env=clone_b.env, cwd=clone_b.root)
    line = one_error(result, "models/forecaster/model.pt", "has no MLflow run", team.uri,
                     "dvc repro --force train_forecaster")
    assert file_digest(clone_b.root / "models/forecaster/model.pt")[:12] in line
    assert "ok: models/charrnn/model.pt is MLflow run" in result.stdout

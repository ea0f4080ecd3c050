"""`python -m rnnpipe.tracking`: bad input is one line and leaves no file behind; only `init` makes a store."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tracking(folder: Path, *args: str, uri: str) -> subprocess.CompletedProcess:
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    return subprocess.run([sys.executable, "-m", "rnnpipe.tracking", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src"), "MLFLOW_TRACKING_URI": uri})


@pytest.mark.parametrize("args", [["champions"], ["promote", "charrnn", "1"]])
def test_a_command_that_reads_a_store_that_is_not_there_makes_none(tmp_path, args):
    done = tracking(tmp_path, *args, uri=f"sqlite:///{tmp_path}/typo.db")
    assert (done.returncode, done.stderr) == (1, f"error: no MLflow store at {tmp_path}/typo.db: a tracked pipeline "
                                                 "run makes it; or point MLFLOW_TRACKING_URI (or params.yaml "
                                                 "tracking.uri) at the store you mean\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_a_file_that_is_not_a_store_is_refused_and_gets_no_lock_file_beside_it(tmp_path):
    (tmp_path / "notes.md").write_text("my notes\n", encoding="utf-8")
    done = tracking(tmp_path, "init", uri=f"sqlite:///{tmp_path}/notes.md")
    assert (done.returncode, done.stderr) == (1, f"error: tracking URI 'sqlite:///{tmp_path}/notes.md' is not usable: "
                                                 f"{tmp_path}/notes.md is not an SQLite database; allowed is an MLflow "
                                                 "SQLite store, or a path where none exists yet\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md", "params.yaml"]
    assert (tmp_path / "notes.md").read_text(encoding="utf-8") == "my notes\n"


@pytest.mark.parametrize("version", ["0", "-1", "x", "1.5", "99999999999999999999999"])
def test_promote_refuses_a_version_that_is_no_version_number(tmp_path, version):
    done = tracking(tmp_path, "promote", "charrnn", version, uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert (done.returncode, done.stderr) == (1, f"error: promote: version {version!r} is invalid: allowed is a "
                                                 "version number >= 1 of rnnpipe-charrnn (python -m rnnpipe.tracking "
                                                 "champions lists them)\n")
    assert not (tmp_path / "mlflow.db").exists()


def test_init_makes_the_store_and_promote_names_where_the_versions_are_listed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking(tmp_path, "init", uri=uri).returncode == 0 and (tmp_path / "mlflow.db").is_file()
    done = tracking(tmp_path, "promote", "forecaster", "3", uri=uri)
    assert done.returncode == 1 and done.stderr.startswith("error: cannot promote rnnpipe-forecaster version 3: ")
    assert done.stderr.endswith("; python -m rnnpipe.tracking champions lists the versions\n")
    assert len(done.stderr.splitlines()) == 1


def test_outside_the_project_root_it_says_where_to_run_unless_the_store_is_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-m", "rnnpipe.tracking", "champions"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**env, "PYTHONPATH": str(REPO / "src")})
    assert (done.returncode, done.stderr) == (1, f"error: params file not found: params.yaml in {tmp_path}, which "
                                                 "has no dvc.yaml either: run the command from the project's root "
                                                 "folder\n")
    done = subprocess.run([sys.executable, "-m", "rnnpipe.tracking", "init"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**env, "PYTHONPATH": str(REPO / "src"),
                                                       "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/store.db"})
    assert done.returncode == 0 and "rnnpipe-forecaster: experiment" in done.stdout, done.stderr
    assert (tmp_path / "store.db").is_file() and not (tmp_path / "params.yaml").exists()

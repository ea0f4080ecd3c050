"""`python -m rnnpipe.sweep` refuses, in one line and before any trial, what it cannot work with: a dead MLflow
server, a dead study database, a sweep that does not exist. Real processes; nothing is written to the repository."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sweep(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """The command in cwd; outside ROOT, DVC_ROOT=ROOT names the project (relative storage paths start at cwd)."""
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RNNPIPE_SWEEP", "DVC_"))}
    project = {} if cwd == ROOT else {"DVC_ROOT": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rnnpipe.sweep", *args], cwd=cwd, env={**clean, **project, **env},
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


@pytest.mark.parametrize("database", ["absent", "empty study storage"])
def test_joining_a_sweep_that_does_not_exist_is_one_line_and_makes_nothing(tmp_path, database):
    if database != "absent":
        import optuna

        optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")  # Optuna's tables, no study
    before = sorted(path.name for path in tmp_path.iterdir())
    one_line(sweep("agent", "nothing-here", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
                   RNNPIPE_SWEEP_STORAGE=f"sqlite:///{tmp_path}/optuna.db"),
             "no sweep named 'nothing-here'", "python -m rnnpipe.sweep run sweeps/nothing-here.yaml")
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # no database, lock file or server log


# --- show's outputs, the storage URL, studies `run` did not make ------------------------------------------------------

@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    """A study as `run` leaves it (its spec, two complete trials) beside one made with Optuna's API alone."""
    import optuna

    from rnnpipe.sweep.agent import SPEC_ATTR, study_name
    from rnnpipe.sweep.spec import load_spec

    url = f"sqlite:///{tmp_path_factory.mktemp('storage')}/optuna.db"
    spec = load_spec(ROOT / "sweeps" / "forecaster-window-noise.yaml", ROOT)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name(spec.name), storage=url)
    study.set_user_attr(SPEC_ATTR, spec.to_json())
    for value, noise in ((0.3, 0.1), (0.2, 0.2)):
        study.add_trial(optuna.trial.create_trial(
            params={"forecaster.input_noise": noise},
            distributions={"forecaster.input_noise": optuna.distributions.FloatDistribution(0.0, 0.4)}, value=value))
    optuna.create_study(study_name=study_name("nospec"), storage=url)
    return url


@pytest.mark.parametrize("option", ["--markdown", "--png"])
def test_show_never_overwrites_a_file_it_is_pointed_at(option, storage, tmp_path):
    mine = tmp_path / "README.md"
    mine.write_text("mine\n")
    result = sweep("show", "forecaster-window-noise", option, str(mine), RNNPIPE_SWEEP_STORAGE=storage)
    one_line(result, f"{option} {mine}", "exists", "--force")
    assert mine.read_text() == "mine\n" and sorted(tmp_path.iterdir()) == [mine]


def test_show_force_replaces_both_files_whole(storage, tmp_path):
    table, png = tmp_path / "table.md", tmp_path / "plot.png"
    for path in (table, png):
        path.write_text("mine\n")
    result = sweep("show", "forecaster-window-noise", "--markdown", str(table), "--png", str(png), "--force",
                   RNNPIPE_SWEEP_STORAGE=storage)
    assert result.returncode == 0, result.stderr
    assert table.read_text().count("| COMPLETE") == 2 and png.read_bytes().startswith(b"\x89PNG")
    assert sorted(tmp_path.iterdir()) == [png, table]  # no temporary file left beside them


def test_show_refuses_one_path_for_both_files_and_an_empty_one(storage, tmp_path):
    same = str(tmp_path / "out")
    one_line(sweep("show", "forecaster-window-noise", "--markdown", same, "--png", same,
                   RNNPIPE_SWEEP_STORAGE=storage), "the same file", same)
    one_line(sweep("show", "forecaster-window-noise", "--markdown", "", RNNPIPE_SWEEP_STORAGE=storage),
             "--markdown ''", "empty")
    assert list(tmp_path.iterdir()) == []
    for force in ((), ("--force",)):
        one_line(sweep("show", "forecaster-window-noise", "--png", str(tmp_path), *force,
                       RNNPIPE_SWEEP_STORAGE=storage), f"--png {tmp_path}: is a folder", "a file to write")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite:///typo.db", "sqlite:///typo/dir/x.db", "sqlite:///{tmp}/x.db"])
def test_show_on_a_storage_file_that_does_not_exist_creates_nothing(url, tmp_path):
    result = sweep("show", "forecaster-window-noise", cwd=tmp_path, RNNPIPE_SWEEP_STORAGE=url.format(tmp=tmp_path))
    one_line(result, "no sweep storage at", "x.db" if "x.db" in url else "typo.db", "RNNPIPE_SWEEP_STORAGE=")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_a_storage_url_without_a_file_is_refused(url, tmp_path):
    one_line(sweep("show", "x", cwd=tmp_path, RNNPIPE_SWEEP_STORAGE=url), f"sweep storage {url} names no database "
             "file", "sqlite:///PATH")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["show", "x"], ["agent", "x", "--cold"]])
def test_a_file_that_is_not_sqlite_gets_no_lock_file_beside_it(command, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    result = sweep(*command, RNNPIPE_SWEEP_STORAGE=f"sqlite:///{notes}",
                   MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    one_line(result, f"{notes} is not an SQLite database")
    assert sorted(tmp_path.iterdir()) == [notes] and notes.read_text() == "not a database\n"


@pytest.mark.parametrize("command", [["show", "x"], ["agent", "x", "--cold"]])
@pytest.mark.parametrize("under", ["file", "/proc"])
def test_a_storage_path_that_cannot_have_folders_is_one_line(command, under, tmp_path):
    notes = tmp_path / "README.md"
    notes.write_text("mine\n")
    database = notes / "x.db" if under == "file" else Path("/proc/no-such-folder/x.db")
    result = sweep(*command, RNNPIPE_SWEEP_STORAGE=f"sqlite:///{database}",
                   MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    one_line(result, str(database))
    assert sorted(tmp_path.iterdir()) == [notes]


@pytest.mark.parametrize("command", [["show", "nospec"], ["agent", "nospec", "--cold"]])
def test_a_study_run_did_not_make_is_one_line_before_mlflow(command, storage, tmp_path):
    result = sweep(*command, RNNPIPE_SWEEP_STORAGE=storage, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    one_line(result, "rnnpipe-sweep-nospec", "not made by `python -m rnnpipe.sweep run`")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_sweep_file_path_is_named_as_empty():
    one_line(sweep("check", ""), "''", "empty", "sweeps/NAME.yaml")


def test_a_new_study_refuses_experiment_names_an_earlier_one_left_in_the_clone(tmp_path):
    """The study's storage is gone (deleted, or another RNNPIPE_SWEEP_STORAGE) but its trials' experiments are not:
    the new study's NAME-0, NAME-1 ... would collide with them. One line; the experiments stay."""
    from tests.integration.helpers import make_copy, subprocess_env

    copy = make_copy(tmp_path / "repo")
    (copy.root / "sweeps" / "again.yaml").write_text(
        "stages: [train_forecaster]\nspace: {forecaster.hidden_size: {int: [2, 4]}}\n"
        "objective: {file: reports/forecaster_train.json, metric: kept_val_mse, direction: minimize}\n"
        "budget: {trials: 2}\nsampler: {type: random, seed: 0}\n", encoding="utf-8")
    copy.commit("sweep")
    ref = f"refs/exps/{copy.run('git', 'rev-parse', 'HEAD').stdout.strip()[:2]}/x/again-3"
    copy.run("git", "update-ref", ref, "HEAD")
    result = subprocess.run([sys.executable, "-m", "rnnpipe.sweep", "run", "sweeps/again.yaml", "--cold"],
                            cwd=copy.root, capture_output=True, text=True, timeout=120,
                            env=subprocess_env(PYTHONPATH=str(copy.root / "src")))
    one_line(result, "sweep again: no study of this name", "1 experiment(s) of an earlier one (again-3)",
             "`dvc exp remove again-3`")
    assert copy.run("git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split() == [ref]

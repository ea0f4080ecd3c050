"""Store writes under parallel workers (rnnpipe.tracking.store) against real SQLite stores: get-or-create of
experiments when creators race, and writes retried while another writer holds the database."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from mlflow.tracking import MlflowClient

from rnnpipe.core.errors import TrackingError
from rnnpipe.tracking.store import get_or_create_experiment, retry_locked


def test_racing_creators_all_get_the_one_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # the schema first, as Tracker does under its lock
    for round_ in range(4):
        name = f"exp-{round_}"
        start = threading.Barrier(3)
        found: list[str] = []
        errors: list[BaseException] = []

        def create() -> None:
            client = MlflowClient(uri)
            start.wait()
            try:
                found.append(get_or_create_experiment(client, name, {"k": "v"}, None).experiment_id)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(set(found)) == 1 and len(found) == 3


def test_a_deleted_experiment_is_one_line_naming_how_to_restore_it(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.delete_experiment(client.create_experiment("gone"))
    with pytest.raises(TrackingError, match=r"experiment gone \(id \d+\) is deleted.*mlflow experiments restore"):
        get_or_create_experiment(client, "gone", {}, None)


def locked_database(path):
    """Another writer holding SQLite's write lock, as a second process or worker would."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_write_is_retried_until_the_other_writer_lets_go(tmp_path):
    path = tmp_path / "store.db"
    holder = locked_database(path)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            holder.execute("COMMIT")

    def write() -> None:
        with sqlite3.connect(path, timeout=0) as connection:
            connection.execute("INSERT INTO t VALUES (1)")

    assert retry_locked(write, attempts=4, first_wait=0.25, sleep=sleep) is None
    assert waits == [0.25, 0.5]  # backs off
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_store_that_stays_locked_is_reported_not_raised(tmp_path):
    path = tmp_path / "store.db"
    holder = locked_database(path)

    def write() -> None:
        with sqlite3.connect(path, timeout=0) as connection:
            connection.execute("INSERT INTO t VALUES (1)")

    assert retry_locked(write, attempts=3, first_wait=0.0) == "database is locked"
    holder.execute("ROLLBACK")


def test_other_errors_are_not_retried(tmp_path):
    calls: list[int] = []

    def write() -> None:
        calls.append(1)
        raise ValueError("bad metric")

    with pytest.raises(ValueError, match="bad metric"):
        retry_locked(write, attempts=5, first_wait=0.0)
    assert calls == [1]

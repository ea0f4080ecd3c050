"""Where studies live: `RNNPIPE_SWEEP_STORAGE` (the team's PostgreSQL, from `bash scripts/team_services.sh env`),
else one SQLite file in the repository, .sweeps/optuna.db (git-ignored), that every agent on this machine shares.

SQLite rather than Optuna's journal file: the journal storage of the pinned Optuna has no heartbeat, and heartbeats
are what turn a killed agent's trial into FAIL and a retry (benchmarks/sweep.py measures both under 2 agents).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from rnnpipe.core.errors import first_line
from rnnpipe.sweep.spec import SweepError
from rnnpipe.tracking.store import SQLITE_HEADER

STORAGE_ENV = "RNNPIPE_SWEEP_STORAGE"
LOCAL_DIR = ".sweeps"
MAX_RETRIES = 2   # a trial killed with its agent runs again at most this often
SCHEMA_ATTEMPTS = 3  # agents that create a new study's tables at the same moment: the losers retry


def storage_url(root: Path) -> str:
    """STORAGE_ENV's URL, else the local file. An SQLite file named by a relative path is taken from the current
    folder and handed on absolute: each trial's stages run in a workspace of their own (`dvc exp run --temp`), where
    the same relative path would name another, empty database."""
    url = os.environ.get(STORAGE_ENV)
    return absolute_sqlite(url) if url else f"sqlite:///{root / LOCAL_DIR / 'optuna.db'}"


def absolute_sqlite(url: str) -> str:
    """The URL with its SQLite file's path made absolute; any other URL as it is."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # RDBStorage names what is wrong with it
        return url
    database = parsed.database
    if (parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:") or Path(database).is_absolute()
            or parsed.query.get("uri") in ("true", "1")):
        return url
    return parsed.set(database=str(Path.cwd() / database)).render_as_string(hide_password=False)


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url


def quiet_optuna() -> None:
    """Heartbeats are marked experimental, and asking for trials outside study.optimize draws a warning on every
    trial: the agent is built on exactly those, so the warnings would only bury its own lines."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def open_storage(url: str, heartbeat_seconds: Optional[int] = None, create: bool = True) -> Any:
    """An Optuna RDBStorage, with heartbeats when heartbeat_seconds is given (agents; a stage only reports).
    create=False (a read-only command) makes nothing: no database, no folder, no lock file, no tables.

    A dead database is one line here, before any trial starts."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    quiet_optuna()
    database = sqlite_file(url)
    if database is not None:
        _check_sqlite_file(database, url, create)
        engine: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    heartbeat: dict[str, Any] = {}
    if heartbeat_seconds:
        heartbeat = {"heartbeat_interval": heartbeat_seconds, "grace_period": 3 * heartbeat_seconds,
                     "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with _creating(database if create else None):
                return RDBStorage(url, engine_kwargs=engine, skip_table_creation=not create, **heartbeat)
        except Exception as exc:  # SQLAlchemy's OperationalError, a missing driver, a bad URL alike
            if "already exist" in str(exc) and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))  # another agent created the tables a moment ago: they are there now
                continue
            raise SweepError(f"sweep storage {shown(url)} is not usable: {first_line(exc)} (start the team services, "
                             f"fix {STORAGE_ENV}, or unset it for the local file)") from None
    raise AssertionError("unreachable")


def sqlite_file(url: str) -> Optional[Path]:
    """The database file of an SQLite URL; None for a server's URL (or one SQLAlchemy cannot parse: RDBStorage says
    what is wrong with it). An in-memory database is refused: every agent and trial must open the same file."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise SweepError(f"sweep storage {url} names no database file: allowed is sqlite:///PATH (a file every agent "
                         f"and trial opens) or a server URL; unset {STORAGE_ENV} for the local file")
    return Path(parsed.database)


def no_storage(url: str, database: Path, found: str) -> str:
    if os.environ.get(STORAGE_ENV):
        fix = (f"{STORAGE_ENV}={url} names none: allowed is the storage a sweep ran with (sqlite:///PATH or a server "
               f"URL), or unset it for the local {LOCAL_DIR}/optuna.db")
    else:
        fix = "no sweep has run in this clone: start one with `python -m rnnpipe.sweep run sweeps/NAME.yaml`"
    return f"no sweep storage at {database} ({found}): {fix}"


def _check_sqlite_file(database: Path, url: str, create: bool) -> None:
    """Nothing is made beside a file that is not an SQLite database (its lock file, its tables). A read-only command
    needs an existing database; run and agent may create an absent one (SQLite itself treats an empty file as one)."""
    try:
        with open(database, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except (FileNotFoundError, NotADirectoryError):
        header = None
    except OSError as exc:
        raise SweepError(f"sweep storage {url}: cannot read {database} ({exc.strerror})") from None
    if header and header != SQLITE_HEADER:
        raise SweepError(f"sweep storage {url}: {database} is not an SQLite database: allowed is an SQLite file that "
                         f"`python -m rnnpipe.sweep run` made, or a path where no file is yet")
    if not create and not header:
        raise SweepError(no_storage(url, database, "no file" if header is None else "an empty file"))
    if not create and not _has_study_tables(database):
        raise SweepError(no_storage(url, database, "an SQLite database without Optuna's tables"))
    if create and header is None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = f"{exc.filename} is a file" if isinstance(exc, FileExistsError) else \
                f"{exc.strerror} ({exc.filename})"
            raise SweepError(f"sweep storage {url}: cannot create the folder of {database}: {reason}: allowed is a "
                             "path under folders you can write") from None


def _has_study_tables(database: Path) -> bool:
    """Whether an SQLite file holds Optuna's tables, read without writing (Optuna would add them to any database)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True,
                                                timeout=60)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:  # a damaged file: Optuna's own message says more
        return True
    return {"studies", "version_info"} <= tables


@contextlib.contextmanager
def _creating(database: Optional[Path]) -> Iterator[None]:
    """Agents started together on a new local study: one creates the tables while the others wait (a file lock
    beside the database). A server database (None) has no such file: there a loser of the race retries."""
    if database is None:
        yield
        return
    with open(f"{database}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

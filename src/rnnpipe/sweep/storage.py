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

STORAGE_ENV = "RNNPIPE_SWEEP_STORAGE"
LOCAL_DIR = ".sweeps"
MAX_RETRIES = 2   # a trial killed with its agent runs again at most this often
SCHEMA_ATTEMPTS = 3  # agents that create a new study's tables at the same moment: the losers retry


def storage_url(root: Path) -> str:
    return os.environ.get(STORAGE_ENV) or f"sqlite:///{root / LOCAL_DIR / 'optuna.db'}"


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


def open_storage(url: str, heartbeat_seconds: Optional[int] = None) -> Any:
    """An Optuna RDBStorage, with heartbeats when heartbeat_seconds is given (agents; a stage only reports).

    A dead database is one line here, before any trial starts."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    quiet_optuna()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    heartbeat: dict[str, Any] = {}
    if heartbeat_seconds:
        heartbeat = {"heartbeat_interval": heartbeat_seconds, "grace_period": 3 * heartbeat_seconds,
                     "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with _creating(url):
                return RDBStorage(url, engine_kwargs=engine, **heartbeat)
        except Exception as exc:  # SQLAlchemy's OperationalError, a missing driver, a bad URL alike
            if "already exist" in str(exc) and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))  # another agent created the tables a moment ago: they are there now
                continue
            raise SweepError(f"sweep storage {shown(url)} is not usable: {first_line(exc)} (start the team services, "
                             f"fix {STORAGE_ENV}, or unset it for the local file)") from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _creating(url: str) -> Iterator[None]:
    """Agents started together on a new local study: one creates the tables while the others wait (a file lock
    beside the database). A server database has no such file: there a loser of the race retries."""
    if not url.startswith("sqlite:///"):
        yield
        return
    with open(url.removeprefix("sqlite:///") + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

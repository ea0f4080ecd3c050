"""The team stack on this machine: PostgreSQL, an S3 API server and `mlflow server` on both. Run it through
scripts/team_services.sh (start | stop | status | env | check); `python scripts/team_services.py --help` says the same.

- PostgreSQL: Debian's package (apt-get installs it when missing and we are root), our own cluster in
  <team dir>/postgres, run as the `postgres` OS user when we are root, TCP on 127.0.0.1 only, password auth.
- S3: scripts/team_s3_server.py, an HTTP process speaking the S3 API on 127.0.0.1 that keeps every object as a file
  in <team dir>/s3/<bucket>/<key>, fsynced before it answers (nothing lives only in memory: `kill -9` loses nothing
  it acknowledged), and answers only requests signed with the keys in config.env.
- MLflow: `mlflow server --backend-store-uri postgresql+psycopg2://... --artifacts-destination s3://rnnpipe/mlartifacts
  --serve-artifacts`. Only the server holds the database password and the S3 keys; clients need neither.

Ports are picked free on the first start and kept in <team dir>/config.env (with the passwords and keys). The team
dir is 0700 and its files 0600 (as root, the dir belongs to the postgres OS user, which must reach its cluster).
Every service we start has a PID file with the process's start time: `stop` signals only those processes.
Every error is one line on stderr: `error: <what> ...: <what to do>`, exit code 1 (2 for a command line it does not
know).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

REPO = Path(__file__).resolve().parents[1]
BUCKET = "rnnpipe"
# The remote committed in .dvc/config (url = s3://rnnpipe/dvcstore), made the default per clone: a committed default
# S3 remote breaks `dvc checkout`, `dvc diff` and `dvc exp run` wherever dvc-s3 is not installed.
DVC_REMOTE = "team"
ARTIFACTS = f"s3://{BUCKET}/mlartifacts"
DATABASE = ROLE = "mlflow"
# Optuna has no server: the agents of a sweep open the study database directly, as a role of its own.
SWEEP_DATABASE = SWEEP_ROLE = "optuna"
REGION = "us-east-1"
SETUP_HINT = "run RNNPIPE_EXTRAS=team bash scripts/setup.sh (or pip install -c constraints.txt -e '.[team]')"


class TeamError(Exception):
    """One line for the user: what is wrong, with the value, and what to do."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- state ---------------------------------------------------------------------------------------------------------

class State:
    def __init__(self, root: Path):
        self.root = root
        self.config_file = root / "config.env"
        self.pgdata = root / "postgres"
        self.pg_log = root / "postgres.log"
        self.s3_dir = root / "s3"
        self.s3_pid = root / "s3.pid"
        self.s3_log = root / "s3.log"
        self.mlflow_pid = root / "mlflow.pid"
        self.mlflow_log = root / "mlflow.log"
        self.values: dict[str, str] = {}
        if self.config_file.is_file():
            for line in self.config_file.read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    key, value = line.split("=", 1)
                    self.values[key.strip()] = value.strip()

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("# rnnpipe team stack: ports, passwords and S3 keys of this machine's services. Never commit.\n")
            for key, value in sorted(self.values.items()):
                handle.write(f"{key}={value}\n")
        os.replace(tmp, self.config_file)

    def get(self, key: str) -> str:
        if key not in self.values:
            raise TeamError(f"{self.config_file} has no {key}: run `bash scripts/team_services.sh start` first")
        return self.values[key]

    def port(self, key: str, taken: set[int]) -> int:
        """The saved port if it is still free (or ours), else a new free one, saved."""
        saved = int(self.values.get(key, 0) or 0)
        if saved and saved not in taken and port_free(saved):
            return saved
        port = free_port(taken)
        if saved:
            say(f"note: port {saved} ({key}) is taken now; using {port}")
        self.values[key] = str(port)
        self.save()
        return port

    def secret(self, key: str) -> str:
        if key not in self.values:
            self.values[key] = secrets.token_hex(16)
            self.save()
        return self.values[key]

    # What clients use.
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.get('MLFLOW_PORT')}"

    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.get('S3_PORT')}"

    def backend_uri(self) -> str:
        # No password in the URI (it would show in `ps`): libpq reads PGPASSWORD from the server's environment.
        return f"postgresql+psycopg2://{ROLE}@127.0.0.1:{self.get('PG_PORT')}/{DATABASE}"

    def sweep_storage(self) -> str:
        """The Optuna storage URL a sweep agent needs (it carries the password: only `env` prints it)."""
        return (f"postgresql+psycopg2://{SWEEP_ROLE}:{self.get('OPTUNA_PASSWORD')}@127.0.0.1:{self.get('PG_PORT')}/"
                f"{SWEEP_DATABASE}")


def team_dir() -> Path:
    """RNNPIPE_TEAM_DIR, else .team/ here: a folder, or a path where none exists yet (start makes it)."""
    named = os.environ.get("RNNPIPE_TEAM_DIR")
    root = Path(named or REPO / ".team").resolve()
    if root.exists() and not root.is_dir():
        where = f"RNNPIPE_TEAM_DIR={named}" if named else str(root)
        raise TeamError(f"{where} is not a folder: allowed is the team stack's folder, or a path where none exists "
                        "yet (start makes it)")
    return root


def close_to_others(root: Path) -> None:
    """The team dir holds passwords, keys, logs and objects: 0700, its files 0600. As root, PostgreSQL runs as the
    postgres OS user, which must pass through the dir to its cluster: the dir is that user's (root passes anyway)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
    for entry in root.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, 0o600)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One start/stop at a time per team dir: two `start`s at once still give one set of services."""
    close_to_others(root)
    with open(root / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- processes -----------------------------------------------------------------------------------------------------

def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind: a port whose old connections sit in TIME_WAIT is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def start_time(pid: int) -> Optional[str]:
    """The kernel's start time of a live process (field 22 of /proc/PID/stat), None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def read_pidfile(path: Path) -> Optional[int]:
    """The PID in a file we wrote, if that very process (same start time) still runs."""
    try:
        pid_text, started = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if start_time(pid) == started else None


def write_pidfile(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {start_time(pid)}\n")


def spawn(command: list[str], log: Path, env: dict[str, str], pidfile: Path) -> subprocess.Popen:
    """Start a daemon in its own session (its PID is its process group: `stop` signals the group)."""
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=REPO, start_new_session=True)
    write_pidfile(pidfile, process.pid)
    return process


def stop_group(pidfile: Path, name: str, timeout: float = 30) -> bool:
    pid = read_pidfile(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if start_time(pid) is None and not group_alive(pid):
                pidfile.unlink(missing_ok=True)
                return True
            time.sleep(0.2)
    raise TeamError(f"{name} (pid {pid}) did not stop after SIGKILL: check `ps -g {pid}`")


def group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
    return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def log_reason(log: Path) -> str:
    """The most telling line of a failed daemon's log."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    for needle in ("password authentication failed", "No module named", "Address already in use",
                   "could not connect", "Connection refused", "OperationalError", "Error", "error"):
        for line in reversed(lines[-200:]):
            if needle in line:
                return line[:300]
    return (lines[-1] if lines else "empty log")[:300]


def service_env() -> dict[str, str]:
    """Our environment without anything that would point a service elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "AWS_", "PG", "DVC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask the EC2 metadata address for credentials
    return env


# -- PostgreSQL ----------------------------------------------------------------------------------------------------

def pg_bindir(install: bool) -> Optional[Path]:
    override = os.environ.get("RNNPIPE_PG_BINDIR")
    if override:
        if not (Path(override) / "initdb").is_file():
            raise TeamError(f"RNNPIPE_PG_BINDIR={override} has no initdb: point it at PostgreSQL's bin folder")
        return Path(override)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.parts[-3].split(".") if x.isdigit()])
    if found:
        return found[-1].parent
    if not install:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise TeamError("PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): run "
                        "`sudo apt-get install -y postgresql`, or set RNNPIPE_PG_BINDIR to its bin folder")
    say("postgres: installing Debian's postgresql package (apt-get, a minute)")
    command = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise TeamError(f"`apt-get install postgresql` failed ({log_tail(result.stderr)}): install it by hand")
    return pg_bindir(install=False)


def log_tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


def as_pg_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` OS user."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise TeamError("there is no `postgres` OS user to run PostgreSQL as: reinstall Debian's postgresql "
                        "package, or run this script as a normal user") from None
    return ["runuser", "-u", "postgres", "--", *command]


def chown_pg(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(path, owner.pw_uid, owner.pw_gid)


def pg_running(state: State, bindir: Optional[Path]) -> Optional[int]:
    if bindir is None or not (state.pgdata / "PG_VERSION").is_file():
        return None
    pidfile = state.pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    status = subprocess.run(as_pg_owner([str(bindir / "pg_ctl"), "status", "-D", str(state.pgdata)]),
                            capture_output=True, text=True)
    return pid if status.returncode == 0 else None


def pg_connect(state: State, user: str, password: str, database: str = "postgres"):
    import psycopg2

    try:
        return psycopg2.connect(host="127.0.0.1", port=int(state.get("PG_PORT")), user=user, password=password,
                                dbname=database, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "password authentication failed" in reason:
            raise TeamError(f"PostgreSQL at 127.0.0.1:{state.get('PG_PORT')} refused the password of role "
                            f"{user} ({reason}): the password in {state.config_file} does not match the cluster in "
                            f"{state.pgdata}; restore the right one there, or stop and delete {state.root} "
                            "(this deletes every MLflow run in it)") from None
        raise TeamError(f"cannot connect to PostgreSQL at 127.0.0.1:{state.get('PG_PORT')} as {user}: {reason}") \
            from None


def start_postgres(state: State, taken: set[int]) -> None:
    bindir = pg_bindir(install=True)
    assert bindir is not None
    pid = pg_running(state, bindir)
    if pid is not None:
        taken.add(int(state.get("PG_PORT")))
        ensure_database(state)
        say(f"postgres: already running (pid {pid}, 127.0.0.1:{state.get('PG_PORT')})")
        return
    fresh = not (state.pgdata / "PG_VERSION").is_file()
    if fresh and "PG_SUPERUSER_PASSWORD" in state.values and any(state.pgdata.glob("*")):
        raise TeamError(f"{state.pgdata} is a half-made cluster: delete it and start again")
    if not fresh and "PG_SUPERUSER_PASSWORD" not in state.values:
        raise TeamError(f"{state.pgdata} holds a cluster but {state.config_file} lost its passwords: restore that "
                        f"file, or stop and delete {state.root} (this deletes every MLflow run in it)")
    port = state.port("PG_PORT", taken)
    taken.add(port)
    superuser_password = state.secret("PG_SUPERUSER_PASSWORD")
    state.secret("PG_PASSWORD")
    state.secret("OPTUNA_PASSWORD")
    if fresh:
        state.pgdata.mkdir(mode=0o700, exist_ok=True)
        chown_pg(state.pgdata)
        if subprocess.run(as_pg_owner(["test", "-w", str(state.pgdata)])).returncode != 0:
            raise TeamError(f"the postgres OS user cannot write {state.pgdata} (a parent folder is closed to it): "
                            "set RNNPIPE_TEAM_DIR to a folder every user can reach, e.g. /var/tmp/rnnpipe-team")
        pwfile = state.root / ".pgpass-init"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(superuser_password + "\n")
        chown_pg(pwfile)
        try:
            result = subprocess.run(as_pg_owner([
                str(bindir / "initdb"), "-D", str(state.pgdata), "-U", "postgres", f"--pwfile={pwfile}",
                "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"]),
                capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise TeamError(f"initdb failed in {state.pgdata}: {log_tail(result.stderr)}")
    state.pg_log.touch()
    chown_pg(state.pg_log)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
    result = subprocess.run(as_pg_owner([str(bindir / "pg_ctl"), "start", "-D", str(state.pgdata), "-l",
                                         str(state.pg_log), "-w", "-t", "60", "-o", options]),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise TeamError(f"PostgreSQL did not start on 127.0.0.1:{port} ({log_reason(state.pg_log)}); "
                        f"full log: {state.pg_log}")
    ensure_database(state)
    say(f"postgres: started (pid {pg_running(state, bindir)}, 127.0.0.1:{port}, data {state.pgdata})")


def ensure_database(state: State) -> None:
    """The roles and databases of MLflow and of sweeps (idempotent), then a login as each role: a wrong password
    stops here."""
    owners = ((ROLE, DATABASE, "PG_PASSWORD"), (SWEEP_ROLE, SWEEP_DATABASE, "OPTUNA_PASSWORD"))
    state.secret("OPTUNA_PASSWORD")  # a cluster made before sweeps had a database of their own
    connection = pg_connect(state, "postgres", state.get("PG_SUPERUSER_PASSWORD"))
    connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
    try:
        with connection.cursor() as cursor:
            for role, database, password_key in owners:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (state.get(password_key),))
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {database} OWNER {role}")
    finally:
        connection.close()
    for role, database, password_key in owners:
        pg_connect(state, role, state.get(password_key), database).close()


def stop_postgres(state: State) -> None:
    bindir = pg_bindir(install=False)
    pid = pg_running(state, bindir)
    if pid is None:
        say("postgres: not running")
        return
    result = subprocess.run(as_pg_owner([str(bindir / "pg_ctl"), "stop", "-D", str(state.pgdata), "-m", "fast",
                                         "-w", "-t", "60"]), capture_output=True, text=True)
    if result.returncode != 0:
        raise TeamError(f"PostgreSQL (pid {pid}) did not stop: {log_tail(result.stderr)}")
    say(f"postgres: stopped (pid {pid})")


# -- S3 (scripts/team_s3_server.py, objects on disk) ---------------------------------------------------------------

def s3_client(state: State):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=state.s3_endpoint(), region_name=REGION,
                        aws_access_key_id=state.get("S3_ACCESS_KEY_ID"),
                        aws_secret_access_key=state.get("S3_SECRET_ACCESS_KEY"),
                        config=Config(connect_timeout=3, read_timeout=60, retries={"max_attempts": 2}))


def in_memory_server(pid: int) -> bool:
    """Whether the S3 server an older `start` left running is moto's, which holds objects only in memory."""
    try:
        return b"moto.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def move_out_of_memory(state: State, pid: int) -> int:
    """Write every object of a running in-memory server into the on-disk store, each one whole (staged, fsynced,
    renamed over its file), before that server stops. An object the disk store refuses stops this with the server
    still running, so it is not lost either."""
    sys.path.insert(0, str(REPO / "scripts"))
    from team_object_store import BodyChecks, ObjectStore, S3Error

    store = ObjectStore(state.s3_dir)
    store.open()
    client = s3_client(state)
    moved = 0
    for bucket in (b["Name"] for b in client.list_buckets().get("Buckets", [])):
        if bucket == store.staging.name:  # the disk store's own staging files, uploaded by moto's restore
            continue
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):  # a folder marker: an empty object no file can stand for
                    continue
                try:
                    store.create_bucket(bucket)
                    body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                    staged, _ = store.receive(body, item["Size"], BodyChecks())
                    store.commit(staged, bucket, item["Key"])
                except S3Error as exc:
                    raise TeamError(f"the in-memory S3 server (pid {pid}) holds {bucket}/{item['Key']}, which the "
                                    f"on-disk store refuses ({exc.message}); it keeps running: copy that object out "
                                    "with any S3 client, delete it there, and run this again") from None
                moved += 1
    return moved


def start_s3(state: State, taken: set[int]) -> None:
    pid = read_pidfile(state.s3_pid)
    if pid is not None and in_memory_server(pid):
        moved = move_out_of_memory(state, pid)
        stop_group(state.s3_pid, "s3")
        say(f"s3: {moved} objects moved from the in-memory server (pid {pid}, now stopped) to {state.s3_dir}")
        pid = None
    if pid is not None:
        say(f"s3: already running (pid {pid}, {state.s3_endpoint()})")
        taken.add(int(state.get("S3_PORT")))
        return
    port = state.port("S3_PORT", taken)
    taken.add(port)
    env = service_env()
    env["RNNPIPE_S3_ACCESS_KEY_ID"] = state.secret("S3_ACCESS_KEY_ID")
    env["RNNPIPE_S3_SECRET_ACCESS_KEY"] = state.secret("S3_SECRET_ACCESS_KEY")
    state.s3_log.write_text("")
    process = spawn([sys.executable, str(REPO / "scripts" / "team_s3_server.py"), "--root", str(state.s3_dir),
                     "--host", "127.0.0.1", "--port", str(port)], state.s3_log, env, state.s3_pid)
    deadline = time.monotonic() + 60
    while not http_ok(f"{state.s3_endpoint()}/-/health"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(state.s3_pid, "s3")
            raise TeamError(f"the S3 server did not start on 127.0.0.1:{port} ({log_reason(state.s3_log)}); "
                            f"full log: {state.s3_log}")
        time.sleep(0.2)
    client = s3_client(state)
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    say(f"s3: started (pid {process.pid}, {state.s3_endpoint()}, bucket {BUCKET}, objects on disk in {state.s3_dir})")


def running_pid(pidfile: Path, name: str) -> int | None:
    """The pid `start` wrote to pidfile while that process runs; else None: the stale pidfile removed and "not
    running" said. Stopping the service is the caller's next step."""
    pid = read_pidfile(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        say(f"{name}: not running")
        return None
    return pid


def stop_s3(state: State) -> None:
    pid = running_pid(state.s3_pid, "s3")
    if pid is None:
        return
    if in_memory_server(pid):
        say(f"s3: {move_out_of_memory(state, pid)} objects moved from the in-memory server to {state.s3_dir}")
    stop_group(state.s3_pid, "s3")
    say(f"s3: stopped (pid {pid}; its objects stay in {state.s3_dir})")


# -- mlflow server ---------------------------------------------------------------------------------------------------

def start_mlflow(state: State, taken: set[int]) -> None:
    pid = read_pidfile(state.mlflow_pid)
    if pid is not None:
        say(f"mlflow: already running (pid {pid}, {state.mlflow_uri()})")
        return
    port = state.port("MLFLOW_PORT", taken)
    taken.add(port)
    env = service_env()
    env.update({
        "PGPASSWORD": state.get("PG_PASSWORD"),
        "AWS_ACCESS_KEY_ID": state.get("S3_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": state.get("S3_SECRET_ACCESS_KEY"),
        "AWS_DEFAULT_REGION": REGION,
        "MLFLOW_S3_ENDPOINT_URL": state.s3_endpoint(),
        # MLflow's background job runner (GenAI jobs: seven huey processes) has nothing to do for this project.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    })
    workers = os.environ.get("RNNPIPE_MLFLOW_WORKERS", "2")
    state.mlflow_log.write_text("")
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", state.backend_uri(),
               "--artifacts-destination", ARTIFACTS, "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
               "--workers", workers]
    process = spawn(command, state.mlflow_log, env, state.mlflow_pid)
    uri = state.mlflow_uri()
    deadline = time.monotonic() + float(os.environ.get("RNNPIPE_MLFLOW_START_TIMEOUT", "180"))
    while not (http_ok(f"{uri}/health") and http_ok(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1",
                                                     timeout=20)):
        if process.poll() is not None or time.monotonic() > deadline:
            reason = log_reason(state.mlflow_log)
            stop_group(state.mlflow_pid, "mlflow")
            if "password authentication failed" in reason:
                raise TeamError(f"mlflow server could not open {state.backend_uri()}: PostgreSQL refused the "
                                f"password of role {ROLE} (PG_PASSWORD in {state.config_file}); restore the right "
                                f"one, or stop and delete {state.root} (this deletes every MLflow run in it)")
            if "No module named" in reason:
                raise TeamError(f"mlflow server could not start ({reason}): {SETUP_HINT}")
            raise TeamError(f"mlflow server did not become healthy on {uri} ({reason}); full log: {state.mlflow_log}")
        time.sleep(0.5)
    say(f"mlflow: started (pid {process.pid}, {uri}, runs in PostgreSQL, artifacts in {ARTIFACTS})")


def stop_mlflow(state: State) -> None:
    pid = running_pid(state.mlflow_pid, "mlflow")
    if pid is None:
        return
    stop_group(state.mlflow_pid, "mlflow")
    say(f"mlflow: stopped (pid {pid})")


# -- commands --------------------------------------------------------------------------------------------------------

def require_extra() -> None:
    try:
        import boto3  # noqa: F401
        import psycopg2  # noqa: F401
    except ImportError as exc:
        raise TeamError(f"the team extra is missing from {sys.executable} ({exc}): {SETUP_HINT}") from None


def client_lines(state: State) -> list[str]:
    return [
        "# MLflow for this shell (and every clone's `dvc repro` / `dvc exp run` started from it):",
        f"export MLFLOW_TRACKING_URI={state.mlflow_uri()}",
        "# DVC, once per clone (writes .dvc/config.local, which git never sees):",
        f"dvc remote default --local {DVC_REMOTE}",
        f"dvc remote modify --local {DVC_REMOTE} endpointurl {state.s3_endpoint()}",
        f"dvc remote modify --local {DVC_REMOTE} access_key_id {state.get('S3_ACCESS_KEY_ID')}",
        f"dvc remote modify --local {DVC_REMOTE} secret_access_key {state.get('S3_SECRET_ACCESS_KEY')}",
        "# Sweeps: every agent opens the study database itself (Optuna has no server):",
        f"export RNNPIPE_SWEEP_STORAGE={state.sweep_storage()}",
    ]


def cmd_start(state: State) -> int:
    require_extra()
    taken: set[int] = set()
    with locked(state.root):
        start_postgres(state, taken)
        start_s3(state, taken)
        start_mlflow(state, taken)
    say(f"team stack up: MLflow UI at {state.mlflow_uri()}; stop it with `bash scripts/team_services.sh stop`")
    print("\n".join(client_lines(state)))
    return 0


def cmd_stop(state: State) -> int:
    if not state.root.is_dir():
        say(f"nothing to stop: {state.root} does not exist")
        return 0
    with locked(state.root):
        problems = []
        for stop in (stop_mlflow, stop_s3, stop_postgres):
            try:
                stop(state)
            except TeamError as exc:  # still stop the others
                problems.append(str(exc))
    if problems:
        raise TeamError("; ".join(problems))
    return 0


def cmd_status(state: State) -> int:
    down = 0
    pid = pg_running(state, pg_bindir(install=False))
    if pid is not None:
        say(f"postgres: running (pid {pid}, 127.0.0.1:{state.values.get('PG_PORT')}, databases {DATABASE} and "
            f"{SWEEP_DATABASE}, data {state.pgdata})")
    else:
        say(f"postgres: stopped (data {state.pgdata})")
        down += 1
    pid = read_pidfile(state.s3_pid)
    if pid is not None:
        say(f"s3: running (pid {pid}, {state.s3_endpoint()}, bucket {BUCKET}, objects on disk in {state.s3_dir})")
    else:
        say("s3: stopped")
        down += 1
    pid = read_pidfile(state.mlflow_pid)
    if pid is not None:
        healthy = http_ok(f"{state.mlflow_uri()}/health")
        say(f"mlflow: running (pid {pid}, {state.mlflow_uri()}" + ("" if healthy else ", NOT answering /health") + ")")
        down += 0 if healthy else 1
    else:
        say("mlflow: stopped")
        down += 1
    return 0 if down == 0 else 3


def cmd_env(state: State) -> int:
    if read_pidfile(state.mlflow_pid) is None:
        raise TeamError(f"the team stack in {state.root} is not running: run `bash scripts/team_services.sh start`")
    print(f"export MLFLOW_TRACKING_URI={state.mlflow_uri()}")
    print(f"export RNNPIPE_SWEEP_STORAGE={state.sweep_storage()}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    os.umask(0o077)  # config, logs and PID files are for the team dir's owner only
    sys.path.insert(0, str(REPO / "src"))  # rnnpipe.cli needs only the standard library, as this script does
    from rnnpipe.cli import OneLineParser

    parser = OneLineParser(prog="bash scripts/team_services.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env", "check"],
                        help="start: start (or keep) the three services and print what clients need; stop: stop only "
                             "what start started; status: one line per service (exit 3 if any is down); env: the "
                             "export lines (MLflow server, sweep storage), for eval; check: in this clone, one line "
                             "per problem (extra, DVC remote, credentials, MLflow server, sweep storage, models "
                             "without an MLflow run)")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            from team_check import check  # scripts/team_check.py

            return check(REPO)
        state = State(team_dir())
        return {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env}[args.command](state)
    except TeamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run `bash scripts/team_services.sh status` to see what runs", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

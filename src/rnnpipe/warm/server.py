"""The server of rnnpipe.warm: `python -m rnnpipe.warm.server SOCKET`, run from the repository root."""
from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from rnnpipe.warm import ADDRESS_ENV, MESSAGE_BYTES

WARM_LIBRARIES = ("torch", "numpy", "pandas", "yaml", "matplotlib", "matplotlib.pyplot", "mlflow",
                  "mlflow.pyfunc", "mlflow.models.signature", "mlflow.store.tracking.sqlalchemy_store",
                  "mlflow.store.model_registry.sqlalchemy_store", "sqlalchemy", "alembic", "tqdm")
# dvc as a sweep trial runs it (`dvc exp run --temp`): the modules it would import one by one on its way.
WARM_DVC = ("dvc.cli", "dvc.cli.parser", "dvc.repo.experiments.run", "dvc.repo.experiments.queue.tempdir",
            "dvc.repo.experiments.executor.local", "dvc.repo.reproduce", "dvc.repo.index", "dvc.repo.graph",
            "dvc.stage.cache", "dvc.utils.hydra", "dvc.utils.strictyaml", "dvc.data_cloud", "dvc.compare",
            "scmrepo.git.backend.dulwich", "scmrepo.git.backend.pygit2", "dulwich.porcelain", "pygit2", "networkx",
            "hydra", "omegaconf", "ruamel.yaml", "pyparsing", "platformdirs")
STAGE, DVC = "rnnpipe.stage", "rnnpipe.sweep.dvc_cli"
SERVED = (STAGE, DVC)  # what a caller may have run here: `python -m MODULE ARGS`
PROJECT_PACKAGES = ("rnnpipe", "stages")  # imported afresh in every fork
LEASE_WAIT = 60.0  # seconds a new server waits for its first lease (its agent died before taking it)


# --- the server ------------------------------------------------------------------------------------------------------

def serve(address: str) -> int:
    """Set the numerics up from ./params.yaml as a stage would, listen, load the libraries, then fork one process
    per stage request. It serves the agents that hold a lease (an open connection that sent {"lease": ...}) and
    exits when the last lease closes (an agent that ends or dies), or when none came within LEASE_WAIT seconds."""
    from rnnpipe.core.errors import run_stage
    from rnnpipe.core.numerics import apply_runtime
    from rnnpipe.params import load_params

    # As a stage starts: may restart this process once (the Intel-paths library), before anything else happens.
    run_stage(lambda: apply_runtime(load_params("params.yaml").runtime))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    staging = f"{address}.{os.getpid()}.tmp"
    listener.bind(staging)
    listener.listen(64)
    os.replace(staging, address)  # agents lease and stages queue from here on; they are served once loaded
    identity = os.stat(address).st_ino
    for name in (*WARM_LIBRARIES, *WARM_DVC):
        __import__(name)
    _fill_caches()
    loaded = {"env": dict(os.environ), "executable": sys.executable}
    sys.stdout.flush()
    sys.stderr.flush()

    def stop(signum: int, frame: Any) -> None:
        raise _Stopped()

    signal.signal(signal.SIGTERM, stop)
    leases: list[socket.socket] = []
    leased_once, since = False, time.monotonic()
    try:
        while leases or not leased_once and time.monotonic() - since < LEASE_WAIT:
            _reap()
            ready = select.select([listener, *leases], [], [], 1.0)[0]
            for lease in [conn for conn in ready if conn is not listener]:
                if not lease.recv(1):  # its agent ended (or died): the lease is over
                    leases.remove(lease)
                    lease.close()
            if listener not in ready:
                continue
            conn, _ = listener.accept()
            conn.settimeout(10)  # a caller sends its one message right after connecting
            try:
                message, fds, _, _ = socket.recv_fds(conn, MESSAGE_BYTES, 3)
            except OSError:
                conn.close()
                continue
            conn.settimeout(None)
            request = json.loads(message) if message else {}
            if "lease" in request:
                leases.append(conn)
                leased_once = True
                continue
            if os.fork() == 0:
                code = 1
                try:  # whatever happens, this process never returns into the server's loop
                    listener.close()
                    for lease in leases:
                        lease.close()
                    code = _child(conn, request, fds, loaded)
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            conn.close()
            for fd in fds:
                os.close(fd)
    except _Stopped:
        pass
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            if os.stat(address).st_ino == identity:  # still this server's address, not a successor's
                os.unlink(address)
    return 0


class _Stopped(Exception):
    """SIGTERM: out of the wait at once."""


def _fill_caches() -> None:
    """What every stage that logs a model computes the same way: MLflow's map of the installed packages (0.5 s)."""
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except (ImportError, AttributeError):  # another MLflow version: only the time is lost
        pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(conn: socket.socket, request: dict[str, Any], fds: list[int], loaded: dict[str, Any]) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    module = request.get("module", STAGE)
    as_group = module == DVC
    if as_group:  # dvc and the stages it starts: one process group, which the trial's guard ends as a whole
        os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if module == STAGE:
        os.environ.pop(ADDRESS_ENV)  # the stage runs here, not in another fork
    sys.path[:] = request["path"]
    for name in [name for name in sys.modules if name.split(".")[0] in PROJECT_PACKAGES]:
        del sys.modules[name]

    why_cold = _why_cold(module, request, loaded)
    label = f"stage {' '.join(request['argv'])}" if module == STAGE else f"dvc {' '.join(request['argv'][:2])}"
    # The server's own stderr (the agent's log of it), before the run's streams replace it.
    print(f"{label} in {request['cwd']}: " + (f"cold, {why_cold}" if why_cold else f"warm, pid {os.getpid()}"),
          file=sys.stderr, flush=True)
    if why_cold:
        conn.send(json.dumps({"cold": why_cold}).encode())
        return 0
    conn.send(json.dumps({"pid": os.getpid()}).encode())
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    threading.Thread(target=_end_with_caller, args=(conn, as_group), daemon=True).start()

    code = _run_main(module, request)
    atexit._run_exitfuncs()  # what the interpreter runs at a cold process's exit (MLflow ends its runs there)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    conn.send(json.dumps({"exit": code}).encode())
    return code


def _why_cold(module: str, request: dict[str, Any], loaded: dict[str, Any]) -> str:
    """Why this run cannot happen in this server ('' when it can): a module it does not serve, another Python, or
    (a stage that sets numerics up) numerics other than the ones the libraries loaded with here (what a cold start
    of the stage would set up: rnnpipe.core.numerics). When it can, a stage's environment becomes the one that cold
    start would have."""
    if module not in SERVED:
        return f"{module} is not served here"
    if request["executable"] != loaded["executable"]:
        return f"another Python ({request['executable']})"
    if module != STAGE:
        return ""
    try:
        from rnnpipe.core.numerics import READ_AT_LOAD, started_with
        from rnnpipe.params import load_params
        from rnnpipe.stage import UNPINNED

        if request["argv"] and request["argv"][0] in UNPINNED:  # it sets no numerics up: nothing to compare
            return ""
        wanted = started_with(load_params("params.yaml").runtime, os.environ)
    except Exception as exc:  # the cold run says what is wrong with params.yaml, in its own words
        return f"params.yaml does not load here ({type(exc).__name__})"
    differ = [name for name in READ_AT_LOAD if wanted.get(name) != loaded["env"].get(name)]
    if differ:
        return f"other numerics settings ({', '.join(differ)})"
    os.environ.clear()
    os.environ.update(wanted)
    return ""


def _run_main(module: str, request: dict[str, Any]) -> int:
    """`python -m module argv`: its main(argv), with the exit code a cold process would end with."""
    try:
        main = importlib.import_module(module).main
        sys.argv = [request["argv0"] if module == STAGE else sys.modules[module].__file__, *request["argv"]]
        code: Any = main(request["argv"])
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # as the interpreter reports an uncaught exception
        traceback.print_exc()
        return 1
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _end_with_caller(conn: socket.socket, as_group: bool) -> None:
    """The caller never sends after its request: an empty read means it is gone (`kill -9` included). A run with a
    process group of its own (dvc) ends with the stages it started."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    if as_group:
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rnnpipe.warm.server SOCKET (run from the repository root)", file=sys.stderr)
        return 2
    return serve(str(Path(argv[0]).resolve()))


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # nothing left to write: tearing torch's and MLflow's modules down would only cost seconds

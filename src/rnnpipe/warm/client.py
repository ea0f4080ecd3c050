"""The caller's side of rnnpipe.warm: `python -m rnnpipe.stage NAME` with RNNPIPE_STAGE_SERVER set, and a sweep
trial's guard (rnnpipe.sweep.guard), which has its `dvc exp run` forked there."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any, Optional

from rnnpipe.warm import ADDRESS_ENV, MESSAGE_BYTES

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Forked:
    """`python -m MODULE ARGS` as the server's fork runs it for this caller, on this caller's standard streams."""

    def __init__(self, conn: socket.socket, pid: int, address: str):
        self.conn, self.pid, self.address = conn, pid, address
        self.returncode: Optional[int] = None

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit code, KILLED when the fork ended without sending one (a signal ended it); as subprocess.Popen
        does, subprocess.TimeoutExpired while it still runs after `timeout` seconds."""
        if self.returncode is not None:
            return self.returncode
        self.conn.settimeout(timeout)
        try:
            answer = _receive(self.conn)
        except TimeoutError:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0) from None
        except OSError:
            answer = None
        self.returncode = answer["exit"] if answer is not None and "exit" in answer else KILLED
        self.conn.close()
        return self.returncode


KILLED = -int(signal.SIGKILL)  # as subprocess reports a process a signal ended


def start(module: str, argv: list[str]) -> Optional[Forked]:
    """The server's fork running `python -m module argv` here (cwd, environment, import path, fds 0-2); None when
    there is no server or it says this run must start cold."""
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(address)
        request = {"module": module, "argv": argv, "argv0": sys.argv[0], "cwd": os.getcwd(),
                   "env": dict(os.environ), "path": sys.path, "executable": sys.executable}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        answer = _receive(conn)
    except OSError:
        conn.close()
        return None
    if answer is None or "pid" not in answer:  # {"cold": why}: e.g. this stage's numerics differ from the server's
        conn.close()
        return None
    return Forked(conn, answer["pid"], address)


def run_in_server(argv: list[str]) -> Optional[int]:
    """`python -m rnnpipe.stage argv` in the server: its exit code; None when it cannot run there (run it cold).
    Signals sent to this process reach the fork; if the fork dies by one, this process dies by it too."""
    forked = start("rnnpipe.stage", argv)
    if forked is None:
        return None
    forwarded: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        try:
            os.kill(forked.pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        code = forked.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != KILLED:
        return code
    # The fork died without an exit code: by the signal passed on to it, as this process would have cold.
    if forwarded:
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    print(f"error: the stage's process (pid {forked.pid}, forked by {forked.address}) was killed", file=sys.stderr)
    return 1


def _receive(conn: socket.socket) -> Optional[dict[str, Any]]:
    data = conn.recv(MESSAGE_BYTES)
    return json.loads(data) if data else None

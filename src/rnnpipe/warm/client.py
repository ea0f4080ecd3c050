"""The caller's side of rnnpipe.warm: `python -m rnnpipe.stage NAME` with RNNPIPE_STAGE_SERVER set."""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any, Optional

from rnnpipe.warm import ADDRESS_ENV, MESSAGE_BYTES

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_in_server(argv: list[str]) -> Optional[int]:
    """The stage's exit code when the server ran it; None when it cannot (no server, other numerics): run cold."""
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(address)
        request = {"argv": argv, "argv0": sys.argv[0], "cwd": os.getcwd(), "env": dict(os.environ),
                   "path": sys.path, "executable": sys.executable}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        answer = _receive(conn)
    except OSError:
        conn.close()
        return None
    if answer is None or "pid" not in answer:  # {"cold": why}: this stage's numerics differ from the server's
        conn.close()
        return None
    pid = answer["pid"]
    forwarded: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            answer = _receive(conn)
            if answer is None:
                break
            if "exit" in answer:
                return answer["exit"]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        conn.close()
    # The fork died without an exit code: by the signal passed on to it, as this process would have cold.
    if forwarded:
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    print(f"error: the stage's process (pid {pid}, forked by {address}) was killed", file=sys.stderr)
    return 1


def _receive(conn: socket.socket) -> Optional[dict[str, Any]]:
    data = conn.recv(MESSAGE_BYTES)
    return json.loads(data) if data else None



"""The agents' side of rnnpipe.warm: one stage server per clone and Python, shared by the agents that run there.

An agent leases the server (an open connection) for as long as it works; the first agent to find none starts it,
in a session of its own, so it outlives the agent that started it while others still hold leases. The server
exits when its last lease closes: agents that end or die (`kill -9` included) leave nothing running. A file lock
beside the server's log makes finding-or-starting one step, so agents started together share one server.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

from rnnpipe.warm import ADDRESS_ENV

START_SECONDS = 60.0  # how long a new server may take to listen (it imports torch first)


def address_of(root: Path) -> str:
    """The server's socket for the stages of this clone under this Python (short: sockets have a 107-byte limit)."""
    key = hashlib.sha256(f"{root.resolve()}\0{sys.executable}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"rnnpipe-stages-{key}.sock")


class StageServer:
    """A leased server: `stage_env()` is the environment that sends a trial's stages to it."""

    def __init__(self, root: Path, env: dict[str, str], log: Path):
        self.root, self.env, self.log = root, env, log
        self.address = address_of(root)
        self.lease: Optional[socket.socket] = None
        self.started: Optional[subprocess.Popen] = None  # the server this agent started, if it did
        self.said_gone = False
        self.first = threading.Thread(target=self._take_first, daemon=True)

    def _take_first(self) -> None:
        self.lease = self._acquire()

    def stage_env(self) -> Optional[dict[str, str]]:
        """With a live lease (taken again if the server ended); None when no server could be had (it says so once):
        stages then start cold."""
        if self.first.is_alive():
            self.first.join()
        if self.lease is not None and _closed(self.lease):  # the server ended: find or start another
            self.release()
            self.lease = self._acquire()
        if self.lease is None:
            if not self.said_gone:
                print(f"note: no stage server could start (its log: {self.log}); stages start cold", file=sys.stderr)
                self.said_gone = True
            return None
        return {**self.env, ADDRESS_ENV: self.address}

    def _acquire(self) -> Optional[socket.socket]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log.with_suffix(".lock"), "a") as lock:  # in the clone (git-ignored), not left in /tmp
            fcntl.flock(lock, fcntl.LOCK_EX)
            lease = _lease(self.address)
            if lease is not None:
                return lease
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)  # a dead server's socket
            with open(self.log, "a", encoding="utf-8") as stream:
                server = subprocess.Popen([sys.executable, "-m", "rnnpipe.warm.server", self.address], cwd=self.root,
                                          env=self.env, stdin=subprocess.DEVNULL, stdout=stream,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            self.started = server
            deadline = time.monotonic() + START_SECONDS
            while server.poll() is None and time.monotonic() < deadline:
                if os.path.exists(self.address):
                    return _lease(self.address)
                time.sleep(0.05)
            if server.poll() is None:
                server.kill()
            server.wait()
            return None

    def release(self) -> None:
        if self.lease is not None:
            self.lease.close()
            self.lease = None


def _lease(address: str) -> Optional[socket.socket]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(address)
        conn.send(json.dumps({"lease": os.getpid()}).encode())
    except OSError:  # no server, or a dead one's socket
        conn.close()
        return None
    return conn


def _closed(conn: socket.socket) -> bool:
    """The server closed the lease (it ended): an empty read that does not wait."""
    try:
        return conn.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@contextlib.contextmanager
def running(root: Path, env: dict[str, str], log: Path) -> Iterator[StageServer]:
    """The clone's stage server, leased for as long as the block runs (found or started in the background: it
    loads while the agent gets ready). `log` gets the server's lines: per stage, warm or cold and why."""
    server = StageServer(root, env, log)
    server.first.start()
    try:
        yield server
    finally:
        if server.first.is_alive():
            server.first.join()
        server.release()
        if server.started is not None:  # it exits now unless other agents hold leases: reap it if so
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.started.wait(timeout=2)

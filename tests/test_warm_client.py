"""The stage entry's side of rnnpipe.warm: without a reachable server, a stage runs cold (the caller gets None)."""
from __future__ import annotations

import socket

from rnnpipe.warm import ADDRESS_ENV
from rnnpipe.warm.client import run_in_server


def test_no_server_named_means_cold(monkeypatch):
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    assert run_in_server(["train_forecaster"]) is None


def test_a_server_that_is_gone_means_cold(monkeypatch, tmp_path):
    monkeypatch.setenv(ADDRESS_ENV, str(tmp_path / "no-server.sock"))
    assert run_in_server(["train_forecaster"]) is None
    stale = tmp_path / "stale.sock"  # a socket file left by a server that died: nothing listens
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(stale))
    listener.close()
    monkeypatch.setenv(ADDRESS_ENV, str(stale))
    assert run_in_server(["train_forecaster"]) is None


def test_a_server_that_answers_cold_means_cold(monkeypatch, tmp_path):
    """The server's fork finds other numerics than its own: it says so, and the caller starts the stage itself."""
    import json
    import threading

    address = tmp_path / "server.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(address))
    listener.listen(1)
    received = {}

    def answer_cold() -> None:
        conn, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        received.update(json.loads(message), fds=len(fds))
        conn.send(json.dumps({"cold": "other numerics settings (MKL_CBWR)"}).encode())
        conn.close()

    thread = threading.Thread(target=answer_cold)
    thread.start()
    monkeypatch.setenv(ADDRESS_ENV, str(address))
    assert run_in_server(["train_forecaster", "x"]) is None
    thread.join(10)
    listener.close()
    assert received["argv"] == ["train_forecaster", "x"] and received["fds"] == 3 and received["env"][ADDRESS_ENV]

"""Starting and ending a stage server (rnnpipe.warm) around a sweep agent's work."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

from rnnpipe.warm import ADDRESS_ENV


class StageServer:
    """A started server: `stage_env()` is the environment that sends a trial's stages to it."""

    def __init__(self, process: subprocess.Popen, address: str, env: dict[str, str], log: Path):
        self.process, self.address, self.env, self.log = process, address, env, log
        self.said_gone = False

    def stage_env(self, wait: float = 120) -> Optional[dict[str, str]]:
        """Once the server accepts (the first call waits up to `wait` s while it loads its libraries); None when it
        ended without accepting: the stages then start cold."""
        deadline = time.monotonic() + wait
        while not os.path.exists(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                if not self.said_gone:
                    print(f"note: the stage server did not start (its log: {self.log}); stages start cold",
                          file=sys.stderr)
                    self.said_gone = True
                return None
            time.sleep(0.05)
        return {**self.env, ADDRESS_ENV: self.address}


@contextlib.contextmanager
def running(root: Path, env: dict[str, str], log: Path) -> Iterator[StageServer]:
    """A server for the stages run from `root` (its params.yaml sets the numerics), for as long as the block runs.
    It loads its libraries meanwhile; it ends by SIGTERM here, or with this process (PR_SET_PDEATHSIG). `log` gets a
    line per stage: warm, or cold and why."""
    address = os.path.join(tempfile.gettempdir(), f"rnnpipe-stages-{os.getpid()}-{os.urandom(4).hex()}.sock")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as stream:
        server = subprocess.Popen([sys.executable, "-m", "rnnpipe.warm.server", address], cwd=root, env=env,
                                  stdin=subprocess.DEVNULL, stdout=stream, stderr=subprocess.STDOUT)
    try:
        yield StageServer(server, address, env, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)

"""Starting and ending a stage server (rnnpipe.warm) around a sweep agent's work."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from rnnpipe.warm import ADDRESS_ENV


@contextlib.contextmanager
def running(root: Path, env: dict[str, str], log: Path) -> Iterator[dict[str, str]]:
    """A server for the stages run from `root` (its params.yaml sets the numerics), for as long as the block runs;
    yields the environment that sends stages to it. It loads while the first stage may already run cold; it ends by
    SIGTERM here, or with this process (PR_SET_PDEATHSIG). `log` gets a line per stage: warm, or cold and why."""
    address = os.path.join(tempfile.gettempdir(), f"rnnpipe-stages-{os.getpid()}-{os.urandom(4).hex()}.sock")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as stream:
        server = subprocess.Popen([sys.executable, "-m", "rnnpipe.warm.server", address], cwd=root, env=env,
                                  stdin=subprocess.DEVNULL, stdout=stream, stderr=subprocess.STDOUT)
    try:
        yield {**env, ADDRESS_ENV: address}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)

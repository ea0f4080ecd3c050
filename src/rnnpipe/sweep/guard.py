"""A trial's guard: `python -m rnnpipe.sweep.guard <repo root> -- dvc exp run ...`.

The agent runs each trial's `dvc exp run` under this small process. It asks the kernel for SIGTERM when the agent
dies (PR_SET_PDEATHSIG: `kill -9` of the agent included) and runs the trial in its own process group. On SIGTERM,
SIGINT or SIGHUP it ends that group (SIGTERM, a grace period for the training stage to mark its MLflow run KILLED,
then SIGKILL) and deletes the temporary workspaces under .dvc/tmp/exps/ that the group worked in, so nothing of
a killed trial keeps running or lies around. Otherwise it exits with the trial's exit code. Standard library only:
it starts in milliseconds.

A trial's command is `python -m rnnpipe.sweep.dvc_cli exp run ...`; with RNNPIPE_STAGE_SERVER set (the agent's
stage server, rnnpipe.warm), the guard has that run forked by the server instead, dvc's modules already loaded, in
a process group of its own that the guard watches and ends as it would its own child's.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Union

from rnnpipe.warm import client as warm_client

DVC_MODULE = "rnnpipe.sweep.dvc_cli"
PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 20.0
POLL_SECONDS = 0.5


def ask_for_sigterm_when_parent_dies() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the agent's own SIGTERM handler still stops us
        pass


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":  # after the name: state, ppid, pgrp; a zombie is done
            members.append(int(entry))
    return members


def workspaces_in_use(pgid: int, exps_dir: Path) -> set[Path]:
    """The temporary experiment folders the group's processes work in (their current directories)."""
    found = set()
    for pid in group_members(pgid):
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        workspace = next((folder for folder in (cwd, *cwd.parents)
                          if exps_dir in folder.parents and (folder / ".dvc").is_dir()), None)
        if workspace is not None:  # a copy of the project (.dvc/tmp/exps/standalone/tmpXXXX), never a shared folder
            found.add(workspace)
    return found


def end_group(pgid: int) -> None:
    with_signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with_signal(pgid, signal.SIGKILL)


def with_signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def launch(command: list[str]) -> Union[subprocess.Popen, warm_client.Forked]:
    """The trial's process group: dvc forked by the stage server when there is one, else the command itself."""
    if command[:3] == [sys.executable, "-m", DVC_MODULE]:
        forked = warm_client.start(DVC_MODULE, command[3:])
        if forked is not None:
            return forked
    return subprocess.Popen(command, start_new_session=True)


def main(argv: list[str]) -> int:
    root, separator, command = argv[0], argv[1], argv[2:]
    assert separator == "--" and command, "usage: python -m rnnpipe.sweep.guard <repo root> -- <command>"
    parent = os.getppid()
    ask_for_sigterm_when_parent_dies()
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    if os.getppid() != parent:  # the agent died before prctl took effect
        return 143
    exps_dir = Path(root).resolve() / ".dvc" / "tmp" / "exps"
    child = launch(command)
    seen: set[Path] = set()
    while not stopping:
        seen |= workspaces_in_use(child.pid, exps_dir)
        try:
            child.wait(timeout=POLL_SECONDS)  # returns as soon as the trial ends, not at the next poll
            break
        except subprocess.TimeoutExpired:
            pass
    if stopping:
        seen |= workspaces_in_use(child.pid, exps_dir)
        end_group(child.pid)
        child.wait()
    for workspace in seen:
        shutil.rmtree(workspace, ignore_errors=True)
    if stopping:
        return 128 + stopping[0]
    if isinstance(child, warm_client.Forked) and child.returncode == warm_client.KILLED:
        print(f"error: dvc's process (pid {child.pid}, forked by {child.address}) was killed", file=sys.stderr)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

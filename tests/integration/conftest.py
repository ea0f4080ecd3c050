"""Integration fixtures. Nothing is mocked: stages run through the real `dvc repro`, MLflow writes to a real store.

The two tiny pipeline runs here are built once for the whole test run, whichever test worker asks first (the other
waits for it, then reads the same folder). Tests only read them, or run what reads them (dvc status, a model
server): a test that changes anything works on its own copy (`copy_of`)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest
from filelock import FileLock

from rnnpipe.warm import ADDRESS_ENV
from rnnpipe.warm.launcher import running
from tests.integration.helpers import RepoCopy, make_copy, subprocess_env


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """The folder `name` made by build(folder) once per test run, and what build returned (JSON). pytest-xdist's
    workers share the parent of their temporary folders: the first to get there builds, under a file lock, and the
    others wait and reuse it. A failed build is recorded, so the others fail with its message instead of retrying."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder, record = base / f"shared-{name}", base / f"shared-{name}.json"
    with FileLock(str(base / f"shared-{name}.lock")):
        if not record.exists():
            try:
                built = {"ok": True, "value": build(folder)}
            except Exception as exc:  # noqa: BLE001 - recorded for the other workers, then raised here
                record.write_text(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
                raise
            record.write_text(json.dumps(built))
    built = json.loads(record.read_text())
    if not built["ok"]:
        pytest.fail(f"the shared {name} run failed in another test worker: {built['error']}")
    return folder, built["value"]


@pytest.fixture(scope="session")
def warm_stages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment that runs a fixture's stages in forks of one warm interpreter per test worker (rnnpipe.warm,
    as sweep trials run them; tests/integration/test_warm.py holds its outputs to a cold run's bytes). Fixtures that
    only build what their tests then read use it; what a test checks itself runs cold, as a user runs it."""
    root = make_copy(tmp_path_factory.mktemp("stage-server") / "repo").root
    with running(root, subprocess_env(PYTHONPATH=str(root / "src")), root / "stage-server.log") as server:
        env = server.stage_env()
        yield {ADDRESS_ENV: env[ADDRESS_ENV]} if env is not None else {}


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                 ) -> tuple[RepoCopy, subprocess.CompletedProcess]:
    """One full `dvc repro` on tiny params, tracking off, its stages warm: shared by the tests that only read its
    results or copy it."""
    def build(folder: Path) -> dict:
        result = make_copy(folder / "repo").repro(env_extra=request.getfixturevalue("warm_stages"))
        return {"args": result.args, "stdout": result.stdout, "stderr": result.stderr}

    folder, built = built_once(tmp_path_factory, "pipeline", build)
    return (RepoCopy(folder / "repo", subprocess_env()),
            subprocess.CompletedProcess(built["args"], 0, built["stdout"], built["stderr"]))


@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> RepoCopy:
    """One full `dvc repro` on tiny params with tracking on, cold as a user runs it, into the repository's default
    SQLite store: both models trained, logged, evaluated and made @champion. The served-model tests, the champion
    char-RNN over HTTP, the copied-repository test (as its original), the default-store test and the warm test (as
    its cold reference) read it."""
    def build(folder: Path) -> dict:
        make_copy(folder / "repo", {"tracking": {"enabled": True}}).repro()
        return {}

    folder, _ = built_once(tmp_path_factory, "tracked", build)
    return RepoCopy(folder / "repo", subprocess_env())

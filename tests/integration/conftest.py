"""Integration fixtures. Nothing is mocked: stages run through the real `dvc repro`, MLflow writes to a real store."""
from __future__ import annotations

import subprocess
from typing import Iterator

import pytest

from rnnpipe.warm import ADDRESS_ENV
from rnnpipe.warm.launcher import running
from tests.integration.helpers import RepoCopy, make_copy, subprocess_env


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
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, warm_stages: dict[str, str]
                 ) -> tuple[RepoCopy, subprocess.CompletedProcess]:
    """One full `dvc repro` on tiny params, shared by the tests that only read its results."""
    copy = make_copy(tmp_path_factory.mktemp("pipeline") / "repo")
    return copy, copy.repro(env_extra=warm_stages)

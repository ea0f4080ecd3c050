"""Integration fixtures. Nothing is mocked: stages run through the real `dvc repro`, MLflow writes to a real store."""
from __future__ import annotations

import subprocess

import pytest

from tests.integration.helpers import RepoCopy, make_copy


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RepoCopy, subprocess.CompletedProcess]:
    """One full `dvc repro` on tiny params, shared by the tests that only read its results."""
    copy = make_copy(tmp_path_factory.mktemp("pipeline") / "repo")
    return copy, copy.repro()

#!/usr/bin/env bash
# Command 2: set up .venv and run the whole test suite (unit + integration: real dvc repro, real MLflow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RNNPIPE_EXTRAS=team bash scripts/setup.sh  # the team extra too: tests/integration/test_team.py runs the team stack
source .venv/bin/activate
# Two workers (pytest-xdist), a test file on one worker, so its module fixtures (a pipeline run, a server) are made
# once; files start longest first (tests/schedule.py, tests/durations.json), so both workers end together.
# Pass -n 0 to run in this process, e.g. `bash scripts/test.sh -n 0 tests/core -x`.
python -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"

#!/usr/bin/env bash
# Command 2: set up .venv and run the whole test suite (unit + integration: real dvc repro, real MLflow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source .venv/bin/activate
python -m pytest "$@"

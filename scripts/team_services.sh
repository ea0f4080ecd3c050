#!/usr/bin/env bash
# The team stack on this machine: PostgreSQL, an S3 API server that keeps objects on disk, and `mlflow server` on both.
#   bash scripts/team_services.sh start    start what is not running (idempotent); prints the client settings
#   bash scripts/team_services.sh stop     stop only what `start` started (PID files); data stays in .team/
#   bash scripts/team_services.sh status   one line per service; exit 3 if any is down
#   bash scripts/team_services.sh env      `export MLFLOW_TRACKING_URI=...` and RNNPIPE_SWEEP_STORAGE, for eval "$(...)"
#   bash scripts/team_services.sh check    in this clone: extra, DVC remote, credentials, server, models' runs
# State (ports, passwords, data, logs) lives in $RNNPIPE_TEAM_DIR (default: .team/ here, git-ignored).
# Python: $RNNPIPE_PYTHON, else this checkout's .venv, else the active virtualenv (RNNPIPE_EXTRAS=team bash scripts/setup.sh
# creates .venv with the team extra).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${RNNPIPE_PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then python="$repo/.venv/bin/python"
  elif [ -n "${VIRTUAL_ENV:-}" ]; then python="$VIRTUAL_ENV/bin/python"
  else python="$repo/.venv/bin/python"; fi
fi
if [ ! -x "$python" ]; then
  echo "error: no Python at $python: run RNNPIPE_EXTRAS=team bash scripts/setup.sh (or set RNNPIPE_PYTHON)" >&2
  exit 1
fi
exec "$python" "$here/team_services.py" "$@"

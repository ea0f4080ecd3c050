#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install rnnpipe with the exact tested versions from constraints.txt.
# Idempotent: reinstalls only when pyproject.toml or constraints.txt changed. Source it or run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: PYTHON = '$PYTHON' is not found: allowed is a Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ "$("$PYTHON" -c 'import sys; print(sys.version_info >= (3, 11))' 2>/dev/null)" != True ]; then
  echo "error: rnnpipe needs Python >= 3.11; '$PYTHON' is" \
       "$("$PYTHON" --version 2>&1 | head -n 1 || true). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "setup: installing python3-venv (apt-get)"
      apt-get install -y python3-venv >/dev/null ||
        { apt-get update >/dev/null && apt-get install -y python3-venv >/dev/null; }
      "$PYTHON" -m venv .venv
    else
      echo "error: '$PYTHON -m venv' failed; install your distribution's python3-venv package" >&2
      exit 1
    fi
  fi
fi

# RNNPIPE_EXTRAS=team (comma-separated extras of pyproject.toml) adds optional extras, e.g. the team stack's.
extras="${RNNPIPE_EXTRAS:-}"
if ! [[ "$extras" =~ ^[a-z,]*$ ]]; then
  echo "error: RNNPIPE_EXTRAS='$extras' is not a comma-separated list of extras (e.g. RNNPIPE_EXTRAS=team)" >&2
  exit 1
fi
# The stamp: the hash of pyproject.toml and constraints.txt it was installed from, then the extras installed. Extras
# stay installed: a .venv the tests made (team) serves command 1 as it is, and command 1 does not take them away.
stamp=.venv/.rnnpipe-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
had=$(sed -n 1p "$stamp" 2>/dev/null || true)
had_extras=$(sed -n 2p "$stamp" 2>/dev/null || true)
[[ "$had_extras" =~ ^[a-z,]*$ ]] || had_extras=""
extras=$(printf '%s\n' ${extras//,/ } ${had_extras//,/ } | sed '/^$/d' | sort -u | paste -sd, -)
if [ "$had" != "$want" ] || [ "$extras" != "$had_extras" ]; then
  echo "setup: installing rnnpipe and its pinned dependencies into .venv (a few minutes the first time)"
  # PIP_CONSTRAINT may hold a machine-wide constraint file; ours are added to it, never replace it.
  # pip and setuptools first, at their pinned versions: rnnpipe is then built with that setuptools (no isolated
  # build environment holding whichever setuptools the index serves that day).
  .venv/bin/python -m pip install --quiet --upgrade -c constraints.txt pip setuptools
  # pip byte-compiles what it installs on one core, for half of its time: here each usable core (nproc) compiles a
  # share. A file this Python cannot compile (torch ships a Python 3.12-only test helper) is left as pip leaves it.
  .venv/bin/python -m pip install --quiet --no-compile --no-build-isolation -c constraints.txt \
    -e ".[test${extras:+,$extras}]"
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  .venv/bin/python -m compileall -qq -j "$(nproc 2>/dev/null || echo 1)" "$site" || true
  printf '%s\n%s\n' "$want" "$extras" > "$stamp"
fi
# On a CPU that is not Intel's, MKL ignores MKL_CBWR's branch; a one-line library makes it take its Intel paths, so
# the outputs' bytes match a dvc.lock made on an Intel CPU (src/rnnpipe/core/intel_paths.py). A no-op on Intel.
.venv/bin/python -m rnnpipe.core.intel_paths build
# FastLSTM's steps as compiled loops: the same bytes as their torch versions, faster (rnnpipe.core.lstm_step).
.venv/bin/python -m rnnpipe.core.lstm_step build

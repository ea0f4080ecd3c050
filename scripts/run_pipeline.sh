#!/usr/bin/env bash
# Command 1: set up .venv, make sure the corpus source exists, run the whole DVC pipeline on params.yaml.
# Arguments go to `dvc repro` (stage names, -f, ...); --help lists them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source .venv/bin/activate
# dvc repro's arguments, checked before any work: one line for one it does not take
for arg in "$@"; do
  case "$arg" in -h|--help) python -m rnnpipe.pipeline_args --help; exit 0 ;; esac
done
python -m rnnpipe.pipeline_args "$@"

# Check the corpus source before any work: the default is the Debian package fortunes-ru.
read -r source path < <(python - <<'PY'
import yaml
try:
    c = yaml.safe_load(open("params.yaml", encoding="utf-8"))["corpus"]
    print(c["source"], c["path"])
except Exception:  # params.yaml unreadable here: rnnpipe.checks below names what is wrong, in one line
    print("- -")
PY
)
if [ "$source" = "fortunes-ru" ] && [ ! -d "$path" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run: installing the default corpus (apt-get install -y fortunes-ru)"
    apt-get install -y fortunes-ru >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y fortunes-ru >/dev/null; }
  fi
  if [ ! -d "$path" ]; then
    echo "error: the default corpus $path is missing. Install it as root with 'apt-get install -y fortunes-ru'," \
         "or train on your own text: set corpus.source: file and corpus.path: path/to/text.txt in params.yaml" \
         "(see docs/corpus.md)." >&2
    exit 1
  fi
fi

# Everything that can be checked from params.yaml and the inputs (the corpus, the prompt), before any work.
python -m rnnpipe.checks

# dvc repro's own lines (which stages ran, which were up to date) go to a log the summary reads.
repro_log=.dvc/tmp/run_pipeline_repro.log
mkdir -p .dvc/tmp
start=$(date +%s)
PYTHONUNBUFFERED=1 dvc repro "$@" 2>&1 | tee "$repro_log"
python -m rnnpipe.summary --seconds "$(( $(date +%s) - start ))" --repro-log "$repro_log"

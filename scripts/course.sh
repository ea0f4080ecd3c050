#!/usr/bin/env bash
# The course's three programs (params.yaml says what "the course" is), each one command, as DVC experiments; their
# settings are in src/rnnpipe/course.py (`python -m rnnpipe.course PROGRAM` lists them):
#   bash scripts/course.sh forecaster          RNN(1, 5) + Linear on 10 values, RMSprop 1e-3, batch 8, 5 epochs
#   bash scripts/course.sh text [FILE]         char-RNN on a text file (default: the configured corpus), one-hot,
#                                              RNN 64, previous 10 chars -> next, Adam 1e-3, batch 8, 100 epochs,
#                                              the RNN alone (no n-gram part)
#   bash scripts/course.sh sentences           char-RNN on a few sentences (texts/course_sentences.txt), windows
#                                              that never cross a sentence, RNN 32, Adam 0.01, 1 epoch,
#                                              20 characters after «нейронная сеть », the RNN alone
# Extra arguments go to `dvc exp run`, e.g. `bash scripts/course.sh text -S charrnn.epochs=3` (100 epochs of the
# course's char-RNN take hours on 2 cores).
set -euo pipefail
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: bash scripts/course.sh {forecaster,text [FILE],sentences} [dvc exp run's arguments]"; echo
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
fi
caller="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/dvc ] && PATH="$PWD/.venv/bin:$PATH"
if ! command -v dvc >/dev/null; then
  echo "error: dvc is not installed here: run command 1 (bash scripts/run_pipeline.sh)" \
    "or bash scripts/setup.sh first" >&2
  exit 1
fi
# `dvc exp run -S` writes the course's settings into params.yaml before it runs; a run that fails leaves
# params.yaml as it was before (a run that succeeds leaves the course's settings, as every workspace experiment does).
backup=".dvc/tmp/course-params.yaml.$$"
restore_params() {
  [ -f "$backup" ] || return 0
  if ! cmp -s "$backup" params.yaml; then
    cp "$backup" params.yaml && echo "course: the run did not finish; params.yaml is as it was before it" >&2
  fi
  rm -f "$backup"
}
experiment() {  # NAME, then dvc exp run's arguments
  local name="$1"; shift
  # dvc exp run's arguments and params.yaml with its -S values, checked as check_params would: one line, before
  # DVC changes params.yaml or removes any output
  PYTHONPATH=src python -m rnnpipe.pipeline_args --exp-run "course $program" -n "$name" "$@"
  mkdir -p .dvc/tmp && cp params.yaml "$backup"
  trap restore_params EXIT
  dvc exp run -n "$name" "$@"
  rm -f "$backup"
  echo "course: params.yaml and the outputs now hold experiment $name (dvc exp show); to put the last commit's" \
       "back: git checkout HEAD -- params.yaml dvc.lock metrics plots && dvc checkout"
}
program="${1:-}"
shift || true
case "$program" in
  forecaster|text|sentences) ;;
  *)
    echo "error: course program '$program' is unknown: allowed are forecaster, text [FILE] and sentences" >&2
    exit 1 ;;
esac
# The program's settings, one `section.key=value` a line (src/rnnpipe/course.py holds them)
listed=$(PYTHONPATH=src python -m rnnpipe.course "$program")
settings=()
while IFS= read -r line; do settings+=(-S "$line"); done <<< "$listed"
case "$program" in
  forecaster)
    experiment course-forecaster "${settings[@]}" "$@" ;;
  text)
    corpus=()
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
      if [ -z "$1" ]; then
        echo "error: course text FILE = '' is invalid (an empty path): allowed is a UTF-8 text file" >&2
        exit 1
      fi
      # FILE as the caller named it, from the caller's folder; relative to the repository when it lies inside
      file=$(cd "$caller" && realpath -m -- "$1")
      # the file's own problems (missing, a folder, empty, not UTF-8) in one line, before DVC touches params.yaml
      PYTHONPATH=src python -c 'import sys
from rnnpipe.charrnn.corpus import read_text_file
from rnnpipe.core.errors import CorpusError
try:
    read_text_file(sys.argv[1])
except CorpusError as exc:
    sys.exit(f"error: course text FILE: {exc}")' "$file"
      case "$file" in "$PWD"/*) file="${file#"$PWD"/}" ;; esac
      corpus=(-S corpus.source=file -S "corpus.path=$file"); shift
    fi
    experiment course-text "${corpus[@]}" "${settings[@]}" "$@" ;;
  sentences)
    experiment course-sentences "${settings[@]}" "$@" ;;
esac

#!/usr/bin/env bash
# The course's three programs (params.yaml defines "the course"), each one command, as DVC experiments:
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
caller="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/dvc ] && PATH="$PWD/.venv/bin:$PATH"
if ! command -v dvc >/dev/null; then
  echo "error: dvc is not installed here: run command 1 (bash scripts/run_pipeline.sh) or bash scripts/setup.sh first" >&2
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
experiment() {
  mkdir -p .dvc/tmp && cp params.yaml "$backup"
  trap restore_params EXIT
  dvc exp run "$@"
  rm -f "$backup"
}
program="${1:-}"
shift || true
case "$program" in
  forecaster)
    experiment -n course-forecaster \
      -S forecaster.cell=rnn -S forecaster.hidden_size=5 -S forecaster.num_layers=1 -S forecaster.optimizer=rmsprop \
      -S forecaster.lr=0.001 -S forecaster.lr_schedule=constant -S forecaster.batch_size=8 -S forecaster.epochs=5 \
      -S forecaster.seq_length=10 -S forecaster.targets_per_window=1 -S forecaster.window_stride=1 \
      -S forecaster.input_noise=0.0 -S forecaster.keep=best "$@" ;;
  text)
    corpus=()
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
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
    experiment -n course-text "${corpus[@]}" \
      -S charrnn.mode=many_to_one -S charrnn.sentence_windows=false -S charrnn.cell=rnn -S charrnn.input=one_hot \
      -S charrnn.hidden_size=64 -S charrnn.num_layers=1 -S charrnn.seq_length=10 -S charrnn.batch_size=8 \
      -S charrnn.lr=0.001 -S charrnn.lr_schedule=constant -S charrnn.dropout=0 -S charrnn.grad_clip=0 \
      -S charrnn.epochs=100 -S charrnn.ngram_order=0 -S charrnn.calibrate=false -S "generate.prompt='мой дядя самых'" -S generate.n_chars=40 \
      "$@" ;;
  sentences)
    experiment -n course-sentences \
      -S corpus.source=file -S corpus.path=texts/course_sentences.txt -S corpus.train_fraction=0.8 \
      -S corpus.val_fraction=0.1 -S corpus.test_fraction=0.1 \
      -S charrnn.mode=many_to_one -S charrnn.sentence_windows=true -S charrnn.cell=rnn -S charrnn.input=one_hot \
      -S charrnn.hidden_size=32 -S charrnn.num_layers=1 -S charrnn.seq_length=10 -S charrnn.batch_size=8 \
      -S charrnn.lr=0.01 -S charrnn.lr_schedule=constant -S charrnn.dropout=0 -S charrnn.grad_clip=0 \
      -S charrnn.epochs=1 -S charrnn.ngram_order=0 -S charrnn.calibrate=false -S charrnn_eval.baseline_order=3 \
      -S "generate.prompt='нейронная сеть '" -S generate.n_chars=20 \
      "$@" ;;
  *)
    echo "error: course program '$program' is unknown: allowed are forecaster, text [FILE] and sentences" >&2
    exit 1 ;;
esac

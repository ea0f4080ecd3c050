"""The course's three programs as settings over params.yaml: what `bash scripts/course.sh PROGRAM` passes to
`dvc exp run -S`, and what the benchmarks train as the course's (`benchmarks/forecaster.py`, `charrnn.py`).

    python -m rnnpipe.course forecaster|text|sentences     # one `section.key=value` a line, as -S takes it

A program sets every key of the model's section that the course has a setting for, defaults included, so that a
new default in params.yaml never changes what the course runs. The keys it leaves to params.yaml are listed in
STANDS, each section's whole; tests/test_course.py holds every key of those sections to one list or the other.
"""
from __future__ import annotations

import sys
from typing import Any

from rnnpipe.cli import OneLineParser
from rnnpipe.sweep.spec import override_value  # as sweep trials pass their values to -S

# RNN(1, 5) + Linear on the previous 10 values, RMSprop 1e-3, batch 8, 5 epochs, the RNN alone
FORECASTER: dict[str, Any] = {
    "forecaster.cell": "rnn", "forecaster.hidden_size": 5, "forecaster.num_layers": 1,
    "forecaster.optimizer": "rmsprop", "forecaster.lr": 0.001, "forecaster.lr_schedule": "constant",
    "forecaster.batch_size": 8, "forecaster.epochs": 5, "forecaster.seq_length": 10,
    "forecaster.targets_per_window": 1, "forecaster.window_stride": 1, "forecaster.input_noise": 0.0,
    "forecaster.keep": "best", "forecaster.linear_window": 0,
}

# a char-RNN of the course: one-hot input, a plain RNN, the previous characters -> the next one, plain Adam, no
# dropout, clipping, weight average, n-gram part or temperature
_CHAR_RNN: dict[str, Any] = {
    "charrnn.mode": "many_to_one", "charrnn.cell": "rnn", "charrnn.input": "one_hot", "charrnn.num_layers": 1,
    "charrnn.seq_length": 10, "charrnn.batch_size": 8, "charrnn.lr_schedule": "constant", "charrnn.dropout": 0.0,
    "charrnn.weight_dropout": 0.0, "charrnn.weight_decay": 0.0, "charrnn.adam_beta2": 0.999,
    "charrnn.weight_average": 0.0, "charrnn.grad_clip": 0.0, "charrnn.ngram_order": 0, "charrnn.calibrate": False,
    "charrnn.chars_per_epoch": 0,
}

# on a text file (scripts/course.sh text FILE sets the corpus): RNN 64, Adam 1e-3, 100 epochs
TEXT: dict[str, Any] = {
    **_CHAR_RNN, "charrnn.sentence_windows": False, "charrnn.hidden_size": 64, "charrnn.lr": 0.001,
    "charrnn.epochs": 100, "generate.prompt": "мой дядя самых", "generate.n_chars": 40,
}

# on a few sentences, windows that never cross a sentence: RNN 32, Adam 0.01, 1 epoch
SENTENCES: dict[str, Any] = {
    "corpus.source": "file", "corpus.path": "texts/course_sentences.txt", "corpus.train_fraction": 0.8,
    "corpus.val_fraction": 0.1, "corpus.test_fraction": 0.1,
    **_CHAR_RNN, "charrnn.sentence_windows": True, "charrnn.hidden_size": 32, "charrnn.lr": 0.01,
    "charrnn.epochs": 1, "charrnn_eval.baseline_order": 3, "generate.prompt": "нейронная сеть ",
    "generate.n_chars": 20,
}

PROGRAMS: dict[str, dict[str, Any]] = {"forecaster": FORECASTER, "text": TEXT, "sentences": SENTENCES}

# The keys of each program's model section the course has no setting for: params.yaml's values stand.
STANDS: dict[str, dict[str, set[str]]] = {
    "forecaster": {"forecaster": {"val_fraction", "seed"}},
    "text": {"charrnn": {"embedding_dim", "seed", "mixture"}},  # one-hot input; no n-gram part to mix
    "sentences": {"charrnn": {"embedding_dim", "seed", "mixture"}},
}


def settings(program: str) -> list[str]:
    """The program's `section.key=value` pairs, in a fixed order."""
    return [f"{key}={override_value(value)}" for key, value in PROGRAMS[program].items()]


def section(program: str, name: str) -> dict[str, Any]:
    """The program's settings of one params.yaml section, as {key: value}."""
    return {key.split(".", 1)[1]: value for key, value in PROGRAMS[program].items() if key.split(".", 1)[0] == name}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m rnnpipe.course", description="Print a program of the course as the "
                           "`dvc exp run -S` settings scripts/course.sh passes: one section.key=value a line.")
    parser.add_argument("program", choices=list(PROGRAMS), help="the course's program")
    args = parser.parse_args(argv)
    sys.stdout.write("".join(f"{line}\n" for line in settings(args.program)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What can be checked from params.yaml and the inputs alone, checked before any work.

The stage check_params runs this first in every `dvc repro`, and command 1 (scripts/run_pipeline.sh) before it
calls `dvc repro`: every key of params.yaml, the CPU against runtime.isa, the corpus (readable, non-empty after
cleaning, long enough for one batch of char-RNN training windows) and the prompt against the corpus's cleaned
vocabulary. So a problem that would stop a stage after minutes of training is one line in the first second.

    python -m rnnpipe.checks          # exit 0 and one summary line, or exit 1 and one `error:` line
"""
from __future__ import annotations

from pathlib import Path

from rnnpipe.core.params import Params, load_params
from rnnpipe.core.runtime import check_supported


def check_inputs(params: Params) -> str:
    """Raises a one-line RnnpipeError on the first problem; returns what was checked, in one line.
    Call it after rnnpipe.core.runtime.pin(): the corpus checks load torch and numpy."""
    from rnnpipe.charrnn.corpus import encode, prepare_corpus
    from rnnpipe.charrnn.generate import clean_prompt
    from rnnpipe.charrnn.train import check_trainable

    check_supported(params.runtime.isa)
    corpus = prepare_corpus(params.corpus)
    check_trainable(encode(corpus.splits["train"], corpus.vocab), len(corpus.splits["val"]), params.charrnn,
                    corpus.vocab)
    prompt = clean_prompt(params.generate.prompt, corpus.vocab)
    return (f"checks: params.yaml, runtime.isa {params.runtime.isa}, corpus {corpus.stats['kept_chars']:,} "
            f"characters (vocabulary {len(corpus.vocab)}), prompt {prompt!r}: all fine")


def main(path: str | Path = "params.yaml") -> None:
    from rnnpipe.core.runtime import pin_numerics
    from rnnpipe.core.stage import run_stage

    params = pin_numerics(path)  # the stages' instruction sets and threads, before the corpus checks load torch
    run_stage(lambda: print(check_inputs(params)))


if __name__ == "__main__":
    main()

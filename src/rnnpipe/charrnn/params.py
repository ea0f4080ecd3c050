"""params.yaml `corpus`, `charrnn`, `charrnn_eval`, `generate` and `serving.charrnn`, and the rules between them."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rnnpipe.core.errors import ParamsError
from rnnpipe.core.params import (Allowed, Cell, Flag, Fraction, NonEmptyText, PlainFileName, Positive, Schedule,
                                 Section, Seed, at_least, check_model_size, fail, must, one_of)

CharMode = Literal["many_to_many", "many_to_one"]
CharInput = Literal["embedding", "one_hot"]
CorpusSource = Literal["fortunes-ru", "file", "dir"]
Mixture = Literal["product", "gated"]
# Kneser-Ney n-grams are int64 numbers in base V: the cleaned corpus has at most 75 characters, 75**10 < 2**63.
MAX_NGRAM_ORDER = 10
# generate_text writes several samples of n_chars characters, one step of the model each: a typo with extra zeros
# would keep the stage running for a long time, so n_chars is capped far above what a sample needs.
MAX_GENERATED_CHARS = 100_000


class CorpusParams(Section):
    source: one_of(CorpusSource)
    path: Annotated[str, must(lambda v: bool(v.strip()), "non-empty"), Allowed("a non-empty path")]
    fortunes_files: Annotated[list[PlainFileName], Field(min_length=1),
                              Allowed("a non-empty list of file names in corpus.path (no folders, no '..')")]
    shuffle_entries: Flag
    seed: Seed
    train_fraction: Fraction
    val_fraction: Fraction
    test_fraction: Fraction


class CharRNNParams(Section):
    mode: one_of(CharMode)
    sentence_windows: Flag
    cell: one_of(Cell)
    input: one_of(CharInput)
    embedding_dim: at_least(1)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    dropout: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False), Allowed("a number in [0, 1)")]
    weight_dropout: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False), Allowed("a number in [0, 1)")]
    seq_length: at_least(1)
    batch_size: at_least(1)
    lr: Positive
    weight_decay: Annotated[float, Field(ge=0, allow_inf_nan=False),
                            Allowed("a number >= 0 (0: Adam without weight decay)")]
    adam_beta2: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False), Allowed("a number in [0, 1)")]
    lr_schedule: one_of(Schedule)
    weight_average: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False),
                              Allowed("0 (the weights as trained) or a number in (0, 1) (the average's decay per "
                                      "step)")]
    grad_clip: Annotated[float, Field(ge=0, allow_inf_nan=False), Allowed("a number >= 0 (0 turns clipping off)")]
    epochs: at_least(1)
    seed: Seed
    calibrate: Flag
    ngram_order: Annotated[int, Field(ge=0, le=MAX_NGRAM_ORDER),
                           Allowed(f"0 (no n-gram part) or an integer in [1, {MAX_NGRAM_ORDER}]")]
    mixture: one_of(Mixture)
    chars_per_epoch: Annotated[int, Field(ge=0), Allowed("0 (every training character each epoch) or an integer "
                                                         ">= 1 (training characters sampled per epoch)")]


class CharEvalParams(Section):
    baseline_order: Annotated[int, Field(ge=1, le=MAX_NGRAM_ORDER), Allowed(f"an integer in [1, {MAX_NGRAM_ORDER}]")]


class GenerateParams(Section):
    prompt: NonEmptyText
    n_chars: Annotated[int, Field(ge=1, le=MAX_GENERATED_CHARS),
                       Allowed(f"an integer in [1, {MAX_GENERATED_CHARS}]")]
    temperature: Positive
    top_k: at_least(1)
    seed: Seed


class CharRNNServingParams(Section):
    """What one request to the served char-RNN may ask for (rnnpipe.charrnn.serving); stored with the model."""

    max_n_chars: at_least(1)               # characters generated per prompt
    max_prompt_chars: at_least(1)          # characters in one prompt, as sent
    max_rows: at_least(1)                  # prompts in one request
    max_chars_per_request: at_least(1)     # rows × n_chars: characters generated for the whole request

    @model_validator(mode="after")
    def _one_prompt_fits(self) -> "CharRNNServingParams":
        if self.max_n_chars > self.max_chars_per_request:
            fail("serving.charrnn.max_n_chars", self.max_n_chars, "an integer <= serving.charrnn."
                 f"max_chars_per_request ({self.max_chars_per_request}), so one prompt of max_n_chars fits")
        return self


def check_charrnn(ch: CharRNNParams) -> None:
    if ch.weight_dropout and ch.cell != "lstm":
        fail("charrnn.weight_dropout", ch.weight_dropout, f"0 with charrnn.cell {ch.cell} (dropout on the recurrent "
             "weights is the lstm's)")
    if ch.sentence_windows and ch.mode != "many_to_one":
        fail("charrnn.sentence_windows", True, f"false with charrnn.mode {ch.mode} (windows bounded by "
             "a sentence are many_to_one windows: set charrnn.mode: many_to_one too)")
    if ch.mode == "many_to_many" and 0 < ch.chars_per_epoch < ch.batch_size * ch.seq_length:
        fail("charrnn.chars_per_epoch", ch.chars_per_epoch, f"0 or an integer >= charrnn.batch_size × seq_length "
             f"({ch.batch_size * ch.seq_length}: one BPTT chunk for each of the batch_size streams)")


def check_charrnn_size(ch: CharRNNParams) -> None:
    check_model_size("charrnn", ch, input_size=ch.embedding_dim if ch.input == "embedding" else 0)


def check_corpus(c: CorpusParams) -> None:
    total = c.train_fraction + c.val_fraction + c.test_fraction
    if abs(total - 1.0) > 1e-9:
        raise ParamsError(f"params.yaml: corpus.train_fraction = {c.train_fraction!r}, corpus.val_fraction = "
                          f"{c.val_fraction!r} and corpus.test_fraction = {c.test_fraction!r} add up to "
                          f"{total:g}: allowed are fractions with train + val + test = 1")

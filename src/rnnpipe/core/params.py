"""The params.yaml schema (pydantic v2), and the choice lists the library shares with it.

Every section is a frozen, strict model with `extra="forbid"`: `load_params` checks the whole file before a stage
does any work, and the first problem becomes one line naming the key, the value and what is allowed. Each field
says what is allowed in words (`Allowed`), and those words are what the error shows.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnnpipe.core.errors import ParamsError

# --- choices, defined once: validation and the library both read them ----------------------------------------------
Cell = Literal["rnn", "gru", "lstm"]
Optimizer = Literal["adam", "rmsprop"]
Schedule = Literal["constant", "cosine"]
Keep = Literal["best", "last"]
CharMode = Literal["many_to_many", "many_to_one"]
CharInput = Literal["embedding", "one_hot"]
H0 = Literal["stationary", "course"]
CorpusSource = Literal["fortunes-ru", "file", "dir"]
Isa = Literal["avx2", "avx512", "native"]

CELLS: tuple[str, ...] = get_args(Cell)
FLOAT32_MAX = 3.4028234663852886e38  # the models compute in float32: a larger input is inf inside them
# Kneser-Ney n-grams are int64 numbers in base V: the cleaned corpus has at most 75 characters, 75**10 < 2**63.
MAX_NGRAM_ORDER = 10


class Allowed(str):
    """Field metadata: what the field allows, in the words an error message shows."""


def _must(check: Any, allowed: str) -> AfterValidator:
    def validate(value: Any) -> Any:
        if not check(value):
            raise ValueError(allowed)
        return value
    return AfterValidator(validate)


def at_least(low: int) -> Any:
    return Annotated[int, Field(ge=low), Allowed(f"an integer >= {low}")]


def one_of(choices: Any) -> Any:
    return Annotated[choices, Allowed("one of " + ", ".join(get_args(choices)))]


Number = Annotated[float, Field(allow_inf_nan=False), Allowed("a finite number")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False), Allowed("a number > 0")]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False), Allowed("a number >= 0")]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False), Allowed("a number in (0, 1)")]
Correlation = Annotated[float, Field(gt=-1, lt=1, allow_inf_nan=False), Allowed("a number in (-1, 1)")]
# torch, numpy and random all take a seed below 2**32 (numpy refuses more; torch fails on 2**64 and above).
SEED_LIMIT = 2**32
# Every model this project trains holds a few million numbers at most; a config asking for more than 2**28 (1 GiB
# in float32) is refused before any memory is spent on it, here and when a checkpoint is loaded.
MAX_MODEL_NUMBERS = 1 << 28
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT), Allowed(f"an integer from 0 to {SEED_LIMIT - 1}")]
Flag = Annotated[bool, Allowed("true or false")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
PairOfPositives = Annotated[list[Finite], _must(lambda v: len(v) == 2 and all(s > 0 for s in v), "2 numbers > 0"),
                            Allowed("a list of 2 numbers > 0")]
PairOfCorrelations = Annotated[list[Finite], _must(lambda v: len(v) == 2 and all(-1 < r < 1 for r in v), "(-1, 1)"),
                               Allowed("a list of 2 numbers in (-1, 1)")]
NonEmptyText = Annotated[str, Field(min_length=1), Allowed("a non-empty string")]
# A name inside one folder: the stage declares that folder as its dependency, so a path out of it would be read
# without DVC knowing.
PlainFileName = Annotated[str, _must(lambda v: v not in ("", ".", "..") and not any(c in v for c in "/\\\0"),
                                     "a plain file name")]


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SeriesParams(Section):
    x_min: Number
    x_max: Number
    n_points: at_least(4)
    n_train: at_least(2)
    noise_std: NonNegative
    seed: Seed


class ARParams(Section):
    length: at_least(2)
    h0: one_of(H0)
    seed: Seed
    sigma_1d: Positive
    r_1d: Correlation
    sigma_2d: PairOfPositives
    r_2d: PairOfCorrelations


class ForecasterParams(Section):
    seq_length: at_least(1)
    targets_per_window: at_least(1)
    window_stride: at_least(1)
    input_noise: NonNegative
    cell: one_of(Cell)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    optimizer: one_of(Optimizer)
    lr: Positive
    lr_schedule: one_of(Schedule)
    batch_size: at_least(1)
    epochs: at_least(1)
    val_fraction: Fraction
    keep: one_of(Keep)
    seed: Seed


class ForecastParams(Section):
    horizon: at_least(1)


class CorpusParams(Section):
    source: one_of(CorpusSource)
    path: Annotated[str, _must(lambda v: bool(v.strip()), "non-empty"), Allowed("a non-empty path")]
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
    seq_length: at_least(1)
    batch_size: at_least(1)
    lr: Positive
    lr_schedule: one_of(Schedule)
    grad_clip: Annotated[float, Field(ge=0, allow_inf_nan=False), Allowed("a number >= 0 (0 turns clipping off)")]
    epochs: at_least(1)
    seed: Seed
    ngram_order: Annotated[int, Field(ge=0, le=MAX_NGRAM_ORDER),
                           Allowed(f"0 (no n-gram part) or an integer in [1, {MAX_NGRAM_ORDER}]")]
    chars_per_epoch: Annotated[int, Field(ge=0), Allowed("0 (every training character each epoch) or an integer "
                                                         ">= 1 (training characters sampled per epoch)")]


class CharEvalParams(Section):
    ngram_order: Annotated[int, Field(ge=1, le=MAX_NGRAM_ORDER), Allowed(f"an integer in [1, {MAX_NGRAM_ORDER}]")]


class GenerateParams(Section):
    prompt: NonEmptyText
    n_chars: at_least(1)
    temperature: Positive
    top_k: at_least(1)
    seed: Seed


class TrackingParams(Section):
    enabled: Flag
    uri: Annotated[str | None, Allowed("null or a tracking URI such as http://127.0.0.1:5000 or "
                                       "sqlite:////abs/mlflow.db")]


class CharRNNServingParams(Section):
    """What one request to the served char-RNN may ask for (rnnpipe.charrnn.serving); stored with the model."""

    max_n_chars: at_least(1)               # characters generated per prompt
    max_prompt_chars: at_least(1)          # characters in one prompt, as sent
    max_rows: at_least(1)                  # prompts in one request
    max_chars_per_request: at_least(1)     # rows × n_chars: characters generated for the whole request

    @model_validator(mode="after")
    def _one_prompt_fits(self) -> "CharRNNServingParams":
        if self.max_n_chars > self.max_chars_per_request:
            _fail("serving.charrnn.max_n_chars", self.max_n_chars, "an integer <= serving.charrnn."
                  f"max_chars_per_request ({self.max_chars_per_request}), so one prompt of max_n_chars fits")
        return self


class ForecasterServingParams(Section):
    """What one request to the served forecaster may ask for (rnnpipe.forecaster.serving); stored with the model."""

    max_horizon: at_least(1)               # steps forecast
    max_rows: at_least(1)                  # values sent (only the last seq_length are read)
    max_abs_value: Annotated[float, Field(gt=0, le=FLOAT32_MAX, allow_inf_nan=False),
                             Allowed(f"a number in (0, {FLOAT32_MAX:g}] (float32's largest)")]


class ServingParams(Section):
    charrnn: CharRNNServingParams
    forecaster: ForecasterServingParams


class RuntimeParams(Section):
    isa: one_of(Isa)
    threads: Annotated[Literal["auto"] | Annotated[int, Field(ge=1)],
                       Allowed("auto (every core this process may use) or an integer >= 1")]


class Params(Section):
    runtime: RuntimeParams
    series: SeriesParams
    ar: ARParams
    forecaster: ForecasterParams
    forecast: ForecastParams
    corpus: CorpusParams
    charrnn: CharRNNParams
    charrnn_eval: CharEvalParams
    generate: GenerateParams
    tracking: TrackingParams
    serving: ServingParams

    @model_validator(mode="after")
    def _cross_checks(self) -> "Params":
        """Constraints that tie several keys together."""
        s, f = self.series, self.forecaster
        if s.x_max <= s.x_min:
            _fail("series.x_max", s.x_max, f"a number > series.x_min ({s.x_min})")
        if s.n_train >= s.n_points:
            _fail("series.n_train", s.n_train, f"an integer < series.n_points ({s.n_points})")
        if not _leaves_windows(s.n_train, f.seq_length, f.val_fraction):
            longest = max((n for n in range(1, s.n_train) if _leaves_windows(s.n_train, n, f.val_fraction)),
                          default=0)
            _fail("forecaster.seq_length", f.seq_length,
                  f"an integer that leaves training and validation windows in the {s.n_train}-point training part "
                  f"(at most {longest} with val_fraction {f.val_fraction:g})")
        n_fit = s.n_train - f.seq_length - validation_size(s.n_train, f.seq_length, f.val_fraction)
        if f.window_stride > n_fit:
            _fail("forecaster.window_stride", f.window_stride,
                  f"an integer from 1 to the number of training windows ({n_fit})")
        if f.targets_per_window > f.seq_length:
            _fail("forecaster.targets_per_window", f.targets_per_window,
                  f"an integer from 1 to forecaster.seq_length ({f.seq_length})")
        if self.forecast.horizon > s.n_points - s.n_train:
            _fail("forecast.horizon", self.forecast.horizon,
                  f"an integer <= the test part's length ({s.n_points - s.n_train})")
        if self.charrnn.sentence_windows and self.charrnn.mode != "many_to_one":
            _fail("charrnn.sentence_windows", True, f"false with charrnn.mode {self.charrnn.mode} (windows bounded by "
                  "a sentence are many_to_one windows: set charrnn.mode: many_to_one too)")
        ch = self.charrnn
        if ch.mode == "many_to_many" and 0 < ch.chars_per_epoch < ch.batch_size * ch.seq_length:
            _fail("charrnn.chars_per_epoch", ch.chars_per_epoch, f"0 or an integer >= charrnn.batch_size × seq_length "
                  f"({ch.batch_size * ch.seq_length}: one BPTT chunk for each of the batch_size streams)")
        for section, model, input_size in (("forecaster", f, 1),
                                           ("charrnn", ch, ch.embedding_dim if ch.input == "embedding" else 0)):
            numbers = recurrent_numbers(model.cell, input_size, model.hidden_size, model.num_layers)
            if numbers > MAX_MODEL_NUMBERS:
                _fail(f"{section}.hidden_size", model.hidden_size,
                      f"a size whose model fits in {MAX_MODEL_NUMBERS:,} numbers (1 GiB in float32): a "
                      f"{model.num_layers}-layer {model.cell} of {model.hidden_size} holds {numbers:,} at least")
        c = self.corpus
        total = c.train_fraction + c.val_fraction + c.test_fraction
        if abs(total - 1.0) > 1e-9:
            raise ParamsError(f"params.yaml: corpus.train_fraction = {c.train_fraction!r}, corpus.val_fraction = "
                              f"{c.val_fraction!r} and corpus.test_fraction = {c.test_fraction!r} add up to "
                              f"{total:g}: allowed are fractions with train + val + test = 1")
        return self


def _fail(key: str, value: Any, allowed: str) -> None:
    # Not a ValueError: pydantic lets it through as it is, so the message stays the one line written here.
    raise ParamsError(f"params.yaml: {key} = {value!r} is invalid: allowed is {allowed}")


def recurrent_numbers(cell: str, input_size: int, hidden_size: int, num_layers: int) -> int:
    """The weights and biases of a stack of torch recurrent layers (a lower bound for a whole model)."""
    per_gate = [hidden_size * ((input_size if layer == 0 else hidden_size) + hidden_size + 2)
                for layer in range(num_layers)]
    return GATES[cell] * sum(per_gate)


def _leaves_windows(n_train: int, seq_length: int, val_fraction: float) -> bool:
    n_val = validation_size(n_train, seq_length, val_fraction)
    return n_val >= 1 and n_train - seq_length - n_val >= 1


def validation_size(n_train: int, seq_length: int, val_fraction: float) -> int:
    """Number of validation targets carved from the end of the training part's windows."""
    n_windows = n_train - seq_length
    return max(1, int(round(n_windows * val_fraction))) if n_windows > 1 else 0


# --- one line per problem -------------------------------------------------------------------------------------------

def _field_of(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, Any]:
    """The dotted key of an error location (`ar.sigma_2d[1]`) and the innermost named field's FieldInfo."""
    key, info = "", None
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            break  # past the last named field: what follows names a member of a union, not a key
        key = f"{key}.{part}" if key else str(part)
        info = model.model_fields.get(part)
        model = info.annotation if info is not None else None
    return key, info


def _allowed(info: Any) -> str:
    for item in getattr(info, "metadata", []):
        if isinstance(item, Allowed):
            return str(item)
    return "a mapping of keys"  # a section: its annotation is a model, and a model is a mapping


def error_message(model: type[BaseModel], error: dict[str, Any], source: str = "params.yaml") -> str:
    """One pydantic error → `params.yaml: <key> = <value> is invalid: allowed is <what>`."""
    loc = tuple(error["loc"])
    key, info = _field_of(model, loc)
    if error["type"] == "extra_forbidden":
        parent, parent_info = _field_of(model, loc[:-1])
        owner = parent_info.annotation if parent else model
        where = f" in {parent}" if parent else ""
        return (f"{source}: unknown key '{key}': allowed keys{where} are "
                f"{', '.join(owner.model_fields)}")
    if error["type"] == "missing":
        return f"{source}: missing key '{key}'"
    if error["type"] == "value_error" and not loc:  # a model validator's cross-field rule, in its own words
        return f"{source}: {error['ctx']['error']}"
    shown = key or "the file"
    return f"{source}: {shown} = {error['input']!r} is invalid: allowed is {_allowed(info)}"


def first_error(model: type[BaseModel], exc: ValidationError, source: str = "params.yaml") -> str:
    """The problem a reader meets first: sections in file order; in a section, unknown keys before bad values."""
    order = list(model.model_fields)
    errors = exc.errors()

    def rank(indexed: tuple[int, dict[str, Any]]) -> tuple[int, int, int]:
        index, error = indexed
        loc = error["loc"]
        section = order.index(loc[0]) if loc and loc[0] in order else -1
        unknown = 0 if error["type"] == "extra_forbidden" and len(loc) <= 2 else 1
        return section, unknown, index

    return error_message(model, min(enumerate(errors), key=rank)[1], source)


def parse_params(raw: Any) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(first_error(Params, exc)) from None


class ParamsLoader(yaml.SafeLoader):
    """YAML as DVC writes it. `dvc exp run -S charrnn.lr=0.00001` stores `lr: 1e-05` (YAML 1.2, ruamel), which
    PyYAML's YAML 1.1 rules read as text: here a number without a dot but with an exponent is a float too."""


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_params_yaml(text: str) -> Any:
    return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 (a SafeLoader)


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"params file not found: {path}") from None
    try:
        raw = read_params_yaml(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ParamsError(f"params.yaml: not valid YAML ({first})") from None
    return parse_params(raw)


def as_flat_dict(section: BaseModel, prefix: str) -> dict[str, Any]:
    """`forecaster.lr`-style keys for MLflow params."""
    return {f"{prefix}.{k}": v for k, v in section.model_dump().items()}

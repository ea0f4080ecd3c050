"""One typed, validated schema for params.yaml.

Every section is a frozen dataclass; every field declares its type and what values are allowed. `load_params`
checks the whole file before any stage does work, so a typo or an out-of-range value stops the pipeline with a
single line naming the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from rnnpipe.errors import ParamsError

CELLS = ("rnn", "gru", "lstm")


def _spec(allowed: str, check: Callable[[Any], bool] = lambda v: True) -> Any:
    return field(metadata={"allowed": allowed, "check": check})


def _positive(allowed: str = "a number > 0") -> Any:
    return _spec(allowed, lambda v: v > 0)


def _at_least(low: int) -> Any:
    return _spec(f"an integer >= {low}", lambda v: v >= low)


def _one_of(*choices: str) -> Any:
    return _spec("one of " + ", ".join(choices), lambda v: v in choices)


def _fraction(allowed: str = "a number in (0, 1)") -> Any:
    return _spec(allowed, lambda v: 0 < v < 1)


SEED = _spec("an integer >= 0", lambda v: v >= 0)


@dataclass(frozen=True)
class SeriesParams:
    x_min: float = _spec("a finite number")
    x_max: float = _spec("a finite number")
    n_points: int = _at_least(4)
    n_train: int = _at_least(2)
    noise_std: float = _spec("a number >= 0", lambda v: v >= 0)
    seed: int = SEED


@dataclass(frozen=True)
class ARParams:
    length: int = _at_least(2)
    h0: str = _one_of("stationary", "course")
    seed: int = SEED
    sigma_1d: float = _positive()
    r_1d: float = _spec("a number in (-1, 1)", lambda v: -1 < v < 1)
    sigma_2d: list[float] = _spec("a list of 2 numbers > 0", lambda v: len(v) == 2 and all(s > 0 for s in v))
    r_2d: list[float] = _spec("a list of 2 numbers in (-1, 1)", lambda v: len(v) == 2 and all(-1 < r < 1 for r in v))


@dataclass(frozen=True)
class ForecasterParams:
    seq_length: int = _at_least(1)
    targets_per_window: int = _at_least(1)
    cell: str = _one_of(*CELLS)
    hidden_size: int = _at_least(1)
    num_layers: int = _at_least(1)
    optimizer: str = _one_of("adam", "rmsprop")
    lr: float = _positive()
    lr_schedule: str = _one_of("constant", "cosine")
    batch_size: int = _at_least(1)
    epochs: int = _at_least(1)
    val_fraction: float = _fraction()
    seed: int = SEED


@dataclass(frozen=True)
class ForecastParams:
    horizon: int = _at_least(1)


@dataclass(frozen=True)
class CorpusParams:
    source: str = _one_of("fortunes-ru", "file", "dir")
    path: str = _spec("a non-empty path", lambda v: bool(v.strip()))
    fortunes_files: list[str] = _spec("a non-empty list of file names", lambda v: len(v) > 0)
    shuffle_entries: bool = _spec("true or false")
    seed: int = SEED
    train_fraction: float = _fraction()
    val_fraction: float = _fraction()
    test_fraction: float = _fraction()


@dataclass(frozen=True)
class CharRNNParams:
    mode: str = _one_of("many_to_many", "many_to_one")
    cell: str = _one_of(*CELLS)
    input: str = _one_of("embedding", "one_hot")
    embedding_dim: int = _at_least(1)
    hidden_size: int = _at_least(1)
    num_layers: int = _at_least(1)
    dropout: float = _spec("a number in [0, 1)", lambda v: 0 <= v < 1)
    seq_length: int = _at_least(1)
    batch_size: int = _at_least(1)
    lr: float = _positive()
    lr_schedule: str = _one_of("constant", "cosine")
    grad_clip: float = _spec("a number >= 0 (0 turns clipping off)", lambda v: v >= 0)
    epochs: int = _at_least(1)
    seed: int = SEED


@dataclass(frozen=True)
class CharEvalParams:
    ngram_order: int = _spec("an integer in [1, 10]", lambda v: 1 <= v <= 10)


@dataclass(frozen=True)
class GenerateParams:
    prompt: str = _spec("a non-empty string", lambda v: len(v) > 0)
    n_chars: int = _at_least(1)
    temperature: float = _positive()
    top_k: int = _at_least(1)
    seed: int = SEED


@dataclass(frozen=True)
class TrackingParams:
    enabled: bool = _spec("true or false")
    uri: str | None = _spec("null or a tracking URI such as http://127.0.0.1:5000 or sqlite:////abs/mlflow.db")


@dataclass(frozen=True)
class Params:
    series: SeriesParams
    ar: ARParams
    forecaster: ForecasterParams
    forecast: ForecastParams
    corpus: CorpusParams
    charrnn: CharRNNParams
    charrnn_eval: CharEvalParams
    generate: GenerateParams
    tracking: TrackingParams


_TYPE_NAMES = {"float": "a number", "int": "an integer", "str": "a string", "bool": "true or false"}


def _coerce(key: str, value: Any, type_text: str, allowed: str) -> Any:
    """Check `value` against the annotation text; ints are accepted where floats are, bools never as numbers."""

    def bad() -> ParamsError:
        return ParamsError(f"params.yaml: {key} = {value!r} is invalid: allowed is {allowed}")

    if type_text == "str | None":
        if value is not None and not isinstance(value, str):
            raise bad()
        return value
    if type_text.startswith("list["):
        if not isinstance(value, list):
            raise bad()
        inner = type_text[5:-1]
        return [_coerce(f"{key}[{i}]", v, inner, allowed) for i, v in enumerate(value)]
    if isinstance(value, bool) and type_text != "bool":
        raise bad()
    if type_text == "float":
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad()
        return float(value)
    expected = {"int": int, "str": str, "bool": bool}[type_text]
    if not isinstance(value, expected):
        raise bad()
    return value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {prefix or 'the file'} = {raw!r} is invalid: allowed is a mapping of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ParamsError(
            f"params.yaml: unknown key '{where}{unknown[0]}': allowed keys{' in ' + prefix if prefix else ''} "
            f"are {', '.join(fields)}"
        )
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in raw:
            raise ParamsError(f"params.yaml: missing key '{key}'")
        type_text = f.type if isinstance(f.type, str) else f.type.__name__
        if dataclasses.is_dataclass(_SECTIONS.get(type_text)):
            values[name] = _build(_SECTIONS[type_text], raw[name], key)
            continue
        allowed = f.metadata["allowed"]
        value = _coerce(key, raw[name], type_text, allowed)
        if value is not None and not f.metadata["check"](value):
            raise ParamsError(f"params.yaml: {key} = {raw[name]!r} is invalid: allowed is {allowed}")
        values[name] = value
    return cls(**values)


_SECTIONS = {
    c.__name__: c
    for c in (SeriesParams, ARParams, ForecasterParams, ForecastParams, CorpusParams, CharRNNParams,
              CharEvalParams, GenerateParams, TrackingParams)
}


def _cross_checks(p: Params) -> None:
    """Constraints that tie several keys together."""

    def fail(key: str, value: Any, allowed: str) -> None:
        raise ParamsError(f"params.yaml: {key} = {value!r} is invalid: allowed is {allowed}")

    s, f = p.series, p.forecaster
    if s.x_max <= s.x_min:
        fail("series.x_max", s.x_max, f"a number > series.x_min ({s.x_min})")
    if s.n_train >= s.n_points:
        fail("series.n_train", s.n_train, f"an integer < series.n_points ({s.n_points})")
    if not _leaves_windows(s.n_train, f.seq_length, f.val_fraction):
        longest = max((n for n in range(1, s.n_train) if _leaves_windows(s.n_train, n, f.val_fraction)), default=0)
        fail("forecaster.seq_length", f.seq_length,
             f"an integer that leaves training and validation windows in the {s.n_train}-point training part "
             f"(at most {longest} with val_fraction {f.val_fraction:g})")
    if f.targets_per_window > f.seq_length:
        fail("forecaster.targets_per_window", f.targets_per_window,
             f"an integer from 1 to forecaster.seq_length ({f.seq_length})")
    if p.forecast.horizon > s.n_points - s.n_train:
        fail("forecast.horizon", p.forecast.horizon, f"an integer <= the test part's length ({s.n_points - s.n_train})")
    c = p.corpus
    total = c.train_fraction + c.val_fraction + c.test_fraction
    if abs(total - 1.0) > 1e-9:
        fail("corpus.test_fraction", c.test_fraction,
             f"fractions with train + val + test = 1 (they add up to {total:g})")


def _leaves_windows(n_train: int, seq_length: int, val_fraction: float) -> bool:
    n_val = validation_size(n_train, seq_length, val_fraction)
    return n_val >= 1 and n_train - seq_length - n_val >= 1


def validation_size(n_train: int, seq_length: int, val_fraction: float) -> int:
    """Number of validation targets carved from the end of the training part's windows."""
    n_windows = n_train - seq_length
    return max(1, int(round(n_windows * val_fraction))) if n_windows > 1 else 0


def parse_params(raw: Any) -> Params:
    params = _build(Params, raw, "")
    _cross_checks(params)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"params file not found: {path}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ParamsError(f"params.yaml: not valid YAML ({first})") from None
    return parse_params(raw)


def as_flat_dict(section: Any, prefix: str) -> dict[str, Any]:
    """`forecaster.lr`-style keys for MLflow params."""
    return {f"{prefix}.{k}": v for k, v in dataclasses.asdict(section).items()}

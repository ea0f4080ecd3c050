"""How params.yaml is checked, the sections every model shares (`runtime`, `tracking`) and the choice lists the
library shares with them. Each model's own sections live in its package (`<model>/params.py`); rnnpipe.params
composes the whole file.

Every section is a frozen, strict model with `extra="forbid"`: the whole file is checked before a stage does any
work, and the first problem becomes one line naming the key, the value and what is allowed. Each field says what is
allowed in words (`Allowed`), and those words are what the error shows.
"""
from __future__ import annotations

import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from rnnpipe.core.errors import ParamsError

PARAMS_FILE = "params.yaml"  # the name messages give the file when it is the project's own

# --- choices, defined once: validation and the library both read them ----------------------------------------------
Cell = Literal["rnn", "gru", "lstm"]
Optimizer = Literal["adam", "rmsprop"]
Schedule = Literal["constant", "cosine"]
Keep = Literal["best", "last"]
Isa = Literal["avx2", "avx512", "native"]

CELLS: tuple[str, ...] = get_args(Cell)
FLOAT32_MAX = 3.4028234663852886e38  # the models compute in float32: a larger input is inf inside them


class Allowed(str):
    """Field metadata: what the field allows, in the words an error message shows."""


def must(check: Any, allowed: str) -> AfterValidator:
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
# Each numeric library starts its own pool of runtime.threads threads: tens of thousands exhaust the process's
# memory maps before a stage runs, while 1024 is more than any machine this project runs on has cores.
MAX_THREADS = 1024
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT), Allowed(f"an integer from 0 to {SEED_LIMIT - 1}")]
Flag = Annotated[bool, Allowed("true or false")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
PairOfPositives = Annotated[list[Finite], must(lambda v: len(v) == 2 and all(s > 0 for s in v), "2 numbers > 0"),
                            Allowed("a list of 2 numbers > 0")]
PairOfCorrelations = Annotated[list[Finite], must(lambda v: len(v) == 2 and all(-1 < r < 1 for r in v), "(-1, 1)"),
                               Allowed("a list of 2 numbers in (-1, 1)")]
NonEmptyText = Annotated[str, Field(min_length=1), Allowed("a non-empty string")]
# A name inside one folder: the stage declares that folder as its dependency, so a path out of it would be read
# without DVC knowing.
PlainFileName = Annotated[str, must(lambda v: v not in ("", ".", "..") and not any(c in v for c in "/\\\0"),
                                    "a plain file name")]


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# The stores a stage can log to (rnnpipe.tracking.store.check_reachable): an `mlflow server`, or an SQLite file by its
# absolute path. Refused here, an empty or misspelt URI stops the checks instead of a stage's start.
TRACKING_URI = re.compile(r"https?://[^/\s]+(/\S*)?|sqlite:////\S+")


class TrackingParams(Section):
    enabled: Flag
    uri: Annotated[str | None, must(lambda v: v is None or TRACKING_URI.fullmatch(v), "a tracking URI"),
                   Allowed("null (the project's mlflow.db), http(s)://HOST:PORT of an `mlflow server`, or "
                           "sqlite:////absolute/path/mlflow.db")]


class RuntimeParams(Section):
    isa: one_of(Isa)
    threads: Annotated[Literal["auto"] | Annotated[int, Field(ge=1, le=MAX_THREADS)],
                       Allowed(f"auto (every core this process may use) or an integer from 1 to {MAX_THREADS}")]


def fail(key: str, value: Any, allowed: str) -> None:
    # Not a ValueError: pydantic lets it through as it is, so the message stays the one line written here.
    raise ParamsError(f"{PARAMS_FILE}: {key} = {shown(value)} is invalid: allowed is {allowed}")


def shown(value: Any, limit: int = 120) -> str:
    """A value as a message shows it: its repr, cut at `limit` characters (YAML aliases can make a 1 KB file
    describe a value whose repr runs to megabytes)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 4, limit, limit
    text = short.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def recurrent_numbers(cell: str, input_size: int, hidden_size: int, num_layers: int) -> int:
    """The weights and biases of a stack of torch recurrent layers (a lower bound for a whole model)."""
    per_gate = [hidden_size * ((input_size if layer == 0 else hidden_size) + hidden_size + 2)
                for layer in range(num_layers)]
    return GATES[cell] * sum(per_gate)


def check_model_size(section: str, model: Any, input_size: int) -> None:
    """A recurrent model bigger than MAX_MODEL_NUMBERS is refused before any memory is spent on it."""
    numbers = recurrent_numbers(model.cell, input_size, model.hidden_size, model.num_layers)
    if numbers > MAX_MODEL_NUMBERS:
        fail(f"{section}.hidden_size", model.hidden_size,
             f"a size whose model fits in {MAX_MODEL_NUMBERS:,} numbers (1 GiB in float32): a "
             f"{model.num_layers}-layer {model.cell} of {model.hidden_size} holds {numbers:,} at least")


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


def error_message(model: type[BaseModel], error: dict[str, Any], source: str = PARAMS_FILE) -> str:
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
    return f"{source}: {key or 'the file'} = {shown(error['input'])} is invalid: allowed is {_allowed(info)}"


def first_error(model: type[BaseModel], exc: ValidationError, source: str = PARAMS_FILE) -> str:
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


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} on line {line} (first on line {first_line})")


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML lets a repeated key replace the earlier one without a word, which hides a leftover line (a second
    `budget:`, a second `lr:`) behind the one the reader sees: a key twice in one mapping is refused (DVC's ruamel
    refuses it in params.yaml too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: keys given beside it override its keys
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
            except TypeError:  # an unhashable key: the base constructor names it
                continue
        return super().construct_mapping(node, deep=deep)


class ParamsLoader(UniqueKeyLoader):
    """YAML as DVC writes it. `dvc exp run -S charrnn.lr=0.00001` stores `lr: 1e-05` (YAML 1.2, ruamel), which
    PyYAML's YAML 1.1 rules read as text: here a number without a dot but with an exponent is a float too."""


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def yaml_problem(exc: yaml.YAMLError) -> str:
    """` at line L, column C (what is wrong)` from a PyYAML error, as much of it as the error knows."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["syntax error"])[0]
    context = getattr(exc, "context", None)
    return f"{where} ({context + ': ' if context else ''}{problem})"


def read_params_yaml(text: str) -> Any:
    return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 (a SafeLoader)


def shown_path(path: str | Path) -> str:
    """`path` as a message names it: relative to the working directory when it lies inside it (a command run from the
    project's root reads its ROOT/params.yaml as params.yaml), else as given."""
    path = Path(path)
    if path.is_absolute():
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except (ValueError, OSError):
            pass
    return str(path)


def read_params_file(path: str | Path = PARAMS_FILE) -> Any:
    """The file's YAML, unchecked; a missing file or a syntax error is one line naming the file (shown_path)."""
    path, name = Path(path), shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = "" if path != Path(PARAMS_FILE) or Path("dvc.yaml").is_file() else (
            f" in {Path.cwd()}, which has no dvc.yaml either: run the command from the project's root folder")
        raise ParamsError(f"params file not found: {name}{where}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{name}: byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start} is not "
                          "UTF-8: allowed is a UTF-8 text file") from None
    try:
        raw = read_params_yaml(text)
    except DuplicateKeyError as exc:
        raise ParamsError(f"{name}: {exc}: each key may appear once in a mapping") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{name}: not valid YAML{yaml_problem(exc)}") from None
    return raw


def as_flat_dict(section: BaseModel, prefix: str) -> dict[str, Any]:
    """`forecaster.lr`-style keys for MLflow params."""
    return {f"{prefix}.{k}": v for k, v in section.model_dump().items()}

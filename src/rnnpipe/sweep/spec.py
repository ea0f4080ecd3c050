"""The sweep file: what to search (params.yaml keys), what to optimise (a metric a chosen stage writes), how long,
how, and with which stages. `load_spec` checks all of it against dvc.yaml and params.yaml before any trial starts;
the first problem is one line naming the key, the value and what is allowed.

    stages: [train_forecaster, evaluate_forecaster]       # what a trial runs (dvc.yaml stage names)
    space:                                                 # params.yaml keys, each one of:
      forecaster.cell: {categorical: [gru, lstm]}
      forecaster.seq_length: {int: [50, 400], step: 50}
      forecaster.input_noise: {float: [0.0, 0.4]}
      forecaster.lr: {float: [0.0001, 0.03], log: true}
    objective: {file: reports/forecaster_train.json, metric: best_val_mse, direction: minimize}
    budget: {trials: 20, minutes: 180}                     # either or both
    sampler: {type: tpe, seed: 0}                          # tpe | random | grid
    pruning: {startup_trials: 3, warmup_epochs: 10}        # optional: Optuna's median pruner on val loss per epoch
    constraint: {max_trial_seconds: 420}                   # optional: a slower trial does not count as best
    constraint: {max_relative_cost: 1.6}                   # or: a trial whose training costs more FLOPs than 1.6x
                                                           # params.yaml's is skipped (the model's training_cost)
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from rnnpipe.core.errors import ParamsError, RnnpipeError
from rnnpipe.core.params import DuplicateKeyError, UniqueKeyLoader, read_params_yaml, yaml_problem
from rnnpipe.params import parse_params

TOP_KEYS = ("description", "stages", "space", "objective", "budget", "sampler", "pruning", "constraint",
            "heartbeat_seconds")
SAMPLERS = ("tpe", "random", "grid")
DIRECTIONS = ("minimize", "maximize")
KINDS = ("categorical", "int", "float")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class SweepError(RnnpipeError):
    pass


@dataclass(frozen=True)
class Dimension:
    key: str                      # params.yaml key, dotted: forecaster.hidden_size
    kind: str                     # categorical | int | float
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: Optional[float] = None
    log: bool = False

    def grid_values(self) -> list[Any]:
        if self.kind == "categorical":
            return list(self.choices)
        step = self.step or 1
        return [int(self.low + i * step) for i in range(int((self.high - self.low) // step) + 1)]


def grid_size(dimensions: Sequence[Dimension]) -> int:
    """How many points a grid over these (categorical or int) dimensions has."""
    return math.prod(len(d.grid_values()) for d in dimensions)


@dataclass(frozen=True)
class Objective:
    file: str
    metric: str
    direction: str


@dataclass(frozen=True)
class Pruning:
    startup_trials: int
    warmup_epochs: int


@dataclass(frozen=True)
class SweepSpec:
    name: str
    stages: tuple[str, ...]
    space: tuple[Dimension, ...]
    objective: Objective
    trials: Optional[int]
    minutes: Optional[float]
    sampler: str
    seed: Optional[int]
    pruning: Optional[Pruning]
    heartbeat_seconds: int = 10
    max_trial_seconds: Optional[float] = None  # the constraint: a trial that took longer is infeasible
    max_relative_cost: Optional[float] = None  # and/or: a trial whose training cost is over it is skipped
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def model_kind(self) -> str:
        """The MLflow experiment the parent run lives in: the model whose stages the trials run."""
        return model_of(self.stages)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, **self.raw}, sort_keys=True)


def load_spec(path: str | Path, root: Path) -> SweepSpec:
    """Read and check sweeps/<name>.yaml against root's dvc.yaml and params.yaml."""
    if str(path) == "":  # Path("") is ".", which names a folder, not the empty value given
        raise SweepError("'': the sweep file's path is empty: allowed is a sweep file such as sweeps/NAME.yaml")
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except OSError as exc:
        raise SweepError(f"{path}: cannot read the sweep file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SweepError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): a sweep "
                         "file must be UTF-8 text") from None
    except DuplicateKeyError as exc:
        raise SweepError(f"{path}: {exc}: each key may appear once in a mapping") from None
    except yaml.YAMLError as exc:
        raise SweepError(f"{path}: not valid YAML{yaml_problem(exc)}") from None
    return parse_spec(raw, path.stem, root, str(path))


def parse_spec(raw: Any, name: str, root: Path, source: str = "sweep file") -> SweepSpec:
    with workspace_lock(root):
        return _parse_spec(raw, name, root, source)


def _parse_spec(raw: Any, name: str, root: Path, source: str) -> SweepSpec:
    def fail(message: str) -> SweepError:
        return SweepError(f"{source}: {message}")

    if not set(name) <= NAME_CHARS or not name[:1].isalnum():
        raise fail(f"sweep name {name!r} (the file's name) is invalid: allowed are lowercase letters, digits and '-', "
                   "starting with a letter or digit (it names DVC experiments)")
    if not isinstance(raw, dict):
        raise fail("the file must be a mapping of keys: " + ", ".join(TOP_KEYS))
    for key in raw:
        if key not in TOP_KEYS:
            raise fail(f"unknown key '{key}': allowed keys are {', '.join(TOP_KEYS)}")
    for key in ("stages", "space", "objective", "budget", "sampler"):
        if key not in raw:
            raise fail(f"missing key '{key}'")

    dvc_stages = _dvc_stages(root)
    stages = raw["stages"]
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages):
        raise fail(f"stages = {stages!r} is invalid: allowed is a non-empty list of dvc.yaml stages "
                   f"({', '.join(dvc_stages)})")
    for stage in stages:
        if stage not in dvc_stages:
            raise fail(f"stages: unknown stage {stage!r}: allowed are {', '.join(dvc_stages)}")

    params_raw = _params_raw(root)
    space = raw["space"]
    if not isinstance(space, dict) or not space:
        raise fail(f"space = {space!r} is invalid: allowed is a non-empty mapping of params.yaml keys to ranges")
    dimensions = tuple(_dimension(key, value, params_raw, fail) for key, value in space.items())

    objective = _objective(raw["objective"], stages, dvc_stages, root, fail)
    trials, minutes = _budget(raw["budget"], fail)
    sampler, seed = _sampler(raw["sampler"], dimensions, fail)
    if sampler == "grid":
        points = grid_size(dimensions)
        if trials is not None and trials > points:
            raise fail(f"budget: trials = {trials} is more than the grid's {points} points: allowed is at most "
                       f"{points} (or leave trials out to try every point once)")
        trials = trials or points
    pruning = _pruning(raw.get("pruning"), fail)
    max_trial_seconds, max_relative_cost = _constraint(raw.get("constraint"), model_of(stages), dimensions, fail)
    heartbeat = raw.get("heartbeat_seconds", 10)
    if not isinstance(heartbeat, int) or isinstance(heartbeat, bool) or not 1 <= heartbeat <= 3600:
        raise fail(f"heartbeat_seconds = {heartbeat!r} is invalid: allowed is an integer from 1 to 3600")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail(f"description = {description!r} is invalid: allowed is text")
    return SweepSpec(name=name, stages=tuple(stages), space=dimensions, objective=objective, trials=trials,
                     minutes=minutes, sampler=sampler, seed=seed, pruning=pruning, heartbeat_seconds=heartbeat,
                     max_trial_seconds=max_trial_seconds, max_relative_cost=max_relative_cost,
                     description=description, raw=copy.deepcopy(raw))


def spec_from_json(text: str, root: Path) -> SweepSpec:
    """The spec a study keeps (its user attr `spec`), checked against this clone's dvc.yaml and params.yaml."""
    raw = json.loads(text)
    name = raw.pop("name")
    return parse_spec(raw, name, root, f"sweep {name} (stored in its study)")


# --- parts ----------------------------------------------------------------------------------------------------------

def _dimension(key: Any, value: Any, params_raw: dict[str, Any], fail: Any) -> Dimension:
    if not isinstance(key, str) or _lookup(params_raw, key) is _MISSING:
        raise fail(f"space: unknown params.yaml key {key!r}: allowed are keys of params.yaml such as "
                   "forecaster.hidden_size")
    current = _lookup(params_raw, key)
    if isinstance(current, (dict, list)):
        raise fail(f"space: {key} is a {type(current).__name__} in params.yaml: allowed are single values "
                   "(a number, text or true/false)")
    if not isinstance(value, dict) or len(set(value) & set(KINDS)) != 1:
        raise fail(f"space: {key} = {value!r} is invalid: allowed is one of {{categorical: [a, b]}}, "
                   "{int: [low, high], step: s, log: bool}, {float: [low, high], log: bool}")
    kind = next(k for k in KINDS if k in value)
    extra = set(value) - {kind, "step", "log"}
    if extra or kind == "categorical" and set(value) != {kind}:
        bad = sorted(extra or set(value) - {kind})[0]
        raise fail(f"space: {key}: unknown key '{bad}': allowed keys for {kind} are "
                   f"{'categorical' if kind == 'categorical' else kind + ', step, log'}")
    if kind == "categorical":
        choices = value[kind]
        if not isinstance(choices, list) or not choices:
            raise fail(f"space: {key}: categorical = {choices!r} is an empty or invalid list of choices: allowed "
                       "is a non-empty list")
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise fail(f"space: {key}: categorical = {choices!r} repeats a choice: allowed is distinct choices")
        dimension = Dimension(key, kind, choices=tuple(choices))
        probes = list(choices)
    else:
        bounds = value[kind]
        number = int if kind == "int" else (int, float)
        if not (isinstance(bounds, list) and len(bounds) == 2
                and all(isinstance(b, number) and not isinstance(b, bool) and math.isfinite(b) for b in bounds)):
            raise fail(f"space: {key}: {kind} = {bounds!r} is invalid: allowed is [low, high] with {kind} bounds")
        low, high = bounds
        if not low < high:
            raise fail(f"space: {key}: {kind} = {bounds!r} is an empty range: allowed is [low, high] with low < high")
        log = value.get("log", False)
        if not isinstance(log, bool):
            raise fail(f"space: {key}: log = {log!r} is invalid: allowed is true or false")
        if log and low <= 0:
            raise fail(f"space: {key}: log = true needs low > 0, got {low!r}")
        step = value.get("step")
        if step is not None:
            if not isinstance(step, number) or isinstance(step, bool) or step <= 0 or step > high - low:
                raise fail(f"space: {key}: step = {step!r} is invalid: allowed is a number > 0 and at most "
                           f"high - low = {high - low}")
            if log:
                raise fail(f"space: {key}: step and log = true cannot be combined (Optuna samples one or the other)")
        dimension = Dimension(key, kind, low=low, high=high, step=step, log=log)
        probes = [low, high]
    for probe in probes:
        _check_value(params_raw, key, probe, fail)
    return dimension


def _check_value(params_raw: dict[str, Any], key: str, value: Any, fail: Any) -> None:
    """Every end of a range and every choice must be a value params.yaml accepts for that key."""
    trial_params = copy.deepcopy(params_raw)
    _assign(trial_params, key, value)
    try:
        parse_params(trial_params)
    except ParamsError as exc:
        raise fail(f"space: {key} = {value!r} would make params.yaml invalid ({exc})") from None


def _objective(raw: Any, stages: list[str], dvc_stages: dict[str, Any], root: Path, fail: Any) -> Objective:
    keys = ("file", "metric", "direction")
    if not isinstance(raw, dict):
        raise fail(f"objective = {raw!r} is invalid: allowed is a mapping with {', '.join(keys)}")
    for key in raw:
        if key not in keys:
            raise fail(f"objective: unknown key '{key}': allowed keys are {', '.join(keys)}")
    for key in keys:
        if not isinstance(raw.get(key), str):
            raise fail(f"objective: missing or invalid key '{key}' ({raw.get(key)!r}): allowed is text")
    direction = raw["direction"]
    if direction not in DIRECTIONS:
        raise fail(f"objective: direction = {direction!r} is invalid: allowed is minimize or maximize")
    written = {path: stage for stage in stages for path in _json_outputs(dvc_stages[stage])}
    if raw["file"] not in written:
        raise fail(f"objective: file {raw['file']!r} is written by none of the stages {', '.join(stages)}: allowed "
                   f"are {', '.join(sorted(written)) or 'none (add a stage that writes a .json metric)'}")
    current = root / raw["file"]
    if current.is_file():
        try:
            known = json.loads(current.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = None
        if isinstance(known, dict) and raw["metric"] not in known:
            numeric = [k for k, v in known.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            raise fail(f"objective: metric {raw['metric']!r} is not in {raw['file']}: allowed are "
                       f"{', '.join(numeric)}")
    return Objective(raw["file"], raw["metric"], direction)


def _budget(raw: Any, fail: Any) -> tuple[Optional[int], Optional[float]]:
    if not isinstance(raw, dict) or not raw:
        raise fail(f"budget = {raw!r} is invalid: allowed is a mapping with trials and/or minutes")
    for key in raw:
        if key not in ("trials", "minutes"):
            raise fail(f"budget: unknown key '{key}': allowed keys are trials, minutes")
    trials, minutes = raw.get("trials"), raw.get("minutes")
    if trials is not None and (not isinstance(trials, int) or isinstance(trials, bool) or trials < 1):
        raise fail(f"budget: trials = {trials!r} is invalid: allowed is an integer >= 1")
    if minutes is not None and (not isinstance(minutes, (int, float)) or isinstance(minutes, bool)
                                or not 0 < minutes < math.inf):
        raise fail(f"budget: minutes = {minutes!r} is invalid: allowed is a number > 0")
    return trials, None if minutes is None else float(minutes)


def _sampler(raw: Any, dimensions: tuple[Dimension, ...], fail: Any) -> tuple[str, Optional[int]]:
    if not isinstance(raw, dict) or "type" not in raw:
        raise fail(f"sampler = {raw!r} is invalid: allowed is a mapping with type ({', '.join(SAMPLERS)}) and seed")
    for key in raw:
        if key not in ("type", "seed"):
            raise fail(f"sampler: unknown key '{key}': allowed keys are type, seed")
    kind, seed = raw["type"], raw.get("seed")
    if kind not in SAMPLERS:
        raise fail(f"sampler: type = {kind!r} is invalid: allowed is one of {', '.join(SAMPLERS)}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32):
        raise fail(f"sampler: seed = {seed!r} is invalid: allowed is an integer from 0 to {2**32 - 1}")
    if kind == "grid":
        for dimension in dimensions:
            if dimension.kind == "float" or dimension.log:
                raise fail(f"sampler: type = grid needs a finite grid: {dimension.key} is a continuous range; "
                           "allowed are categorical and int dimensions (give a step for a coarse int grid)")
    return kind, seed


def _pruning(raw: Any, fail: Any) -> Optional[Pruning]:
    if raw is None:
        return None
    keys = ("startup_trials", "warmup_epochs")
    if not isinstance(raw, dict):
        raise fail(f"pruning = {raw!r} is invalid: allowed is a mapping with {', '.join(keys)} (or no key at all)")
    for key in raw:
        if key not in keys:
            raise fail(f"pruning: unknown key '{key}': allowed keys are {', '.join(keys)}")
    values = {key: raw.get(key, default) for key, default in zip(keys, (2, 1))}
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(f"pruning: {key} = {value!r} is invalid: allowed is an integer >= 0")
    return Pruning(**values)


# A trial's user attr: skipped without training, its params cost more than the constraint's max_relative_cost.
OVER_COST_ATTR = "over_cost"


def model_of(stages: Any) -> str:
    return "charrnn" if any("charrnn" in s or s in ("prepare_corpus", "generate_text") for s in stages) \
        else "forecaster"


def _constraint(raw: Any, kind: str, dimensions: tuple[Dimension, ...], fail: Any
                ) -> tuple[Optional[float], Optional[float]]:
    """A budget per trial: its wall seconds (its whole `dvc exp run`, on the machine that ran it, under whatever
    else that machine ran), and/or its training cost relative to params.yaml's (FLOPs, the same on any machine)."""
    if raw is None:
        return None, None
    allowed = ("max_trial_seconds", "max_relative_cost")
    if not isinstance(raw, dict) or not raw or not set(raw) <= set(allowed):
        raise fail(f"constraint = {raw!r} is invalid: allowed is {{max_trial_seconds: N}} and/or "
                   "{max_relative_cost: X} (or no key at all)")
    for key, value in raw.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf:
            raise fail(f"constraint: {key} = {value!r} is invalid: allowed is a number > 0")
    if "max_relative_cost" in raw:
        from rnnpipe.models import MODELS

        if MODELS[kind].training_cost is None:
            with_cost = ", ".join(k for k, m in MODELS.items() if m.training_cost is not None)
            raise fail(f"constraint: max_relative_cost needs a model with a training cost; the {kind}'s stages have "
                       f"none (allowed for: {with_cost})")
        if any(d.key == "charrnn.chars_per_epoch" for d in dimensions):
            raise fail("constraint: max_relative_cost compares FLOPs per training character; with "
                       "charrnn.chars_per_epoch in the space use max_trial_seconds instead")
    seconds, cost = raw.get("max_trial_seconds"), raw.get("max_relative_cost")
    return (float(seconds) if seconds is not None else None), (float(cost) if cost is not None else None)


def relative_cost(spec: SweepSpec, root: Path, overrides: dict[str, Any]) -> float:
    """The training cost of params.yaml with a trial's values, over params.yaml's own (the model's training_cost)."""
    from rnnpipe.models import MODELS

    base, changed = trial_params(root, overrides)
    cost = MODELS[spec.model_kind].training_cost
    return cost(parse_params(changed)) / cost(parse_params(base))


def trial_params(root: Path, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """params.yaml as it is, and as a trial runs it (with the trial's values)."""
    with workspace_lock(root):
        base = _params_raw(root)
    changed = copy.deepcopy(base)
    for key, value in overrides.items():
        node = changed
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return base, changed


# --- dvc.yaml and params.yaml ---------------------------------------------------------------------------------------

_MISSING = object()


@contextlib.contextmanager
def workspace_lock(root: Path) -> Any:
    """DVC's repo lock, waited for. `dvc exp run` holds it while it stashes the workspace and writes a trial's
    values into params.yaml, then restores both: dvc.yaml, params.yaml and the metrics read under it are the
    user's, never empty or another trial's. Not re-entrant (a process's POSIX locks on one file are one lock)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(str(root), _wait_for_lock=True) if (root / ".dvc").is_dir() else None
    except DvcException:  # DVC cannot open it (no git, say): nothing stashes it, and the reads that follow say
        repo = None       # what is wrong
    if repo is None:
        yield
        return
    try:
        with repo.lock:
            yield
    finally:
        repo.close()


def _lookup(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _assign(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = tree
    for part in parents:
        node = node[part]
    node[last] = value


def _dvc_stages(root: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        raise SweepError(f"{root / 'dvc.yaml'}: missing or unreadable: run sweeps from the project's root") from None


def _params_raw(root: Path) -> dict[str, Any]:
    try:
        raw = read_params_yaml((root / "params.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise SweepError(f"{root / 'params.yaml'}: missing or unreadable") from None
    try:
        parse_params(raw)
    except ParamsError as exc:
        raise SweepError(f"{exc} (fix params.yaml before sweeping)") from None
    return raw


def _json_outputs(stage: dict[str, Any]) -> list[str]:
    paths = []
    for key in ("metrics", "outs"):
        for entry in stage.get(key, []) or []:
            path = next(iter(entry)) if isinstance(entry, dict) else str(entry)
            if path.endswith(".json"):
                paths.append(path)
    return paths


def override_value(value: Any) -> str:
    """A trial's value as `dvc exp run -S key=<value>` wants it (YAML: DVC parses it back into the same type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        mantissa, _, exponent = repr(value).partition("e")
        if exponent and "." not in mantissa:  # 1.0e-05 reads as a number under YAML 1.1 and 1.2 alike
            mantissa += ".0"
        return mantissa + (f"e{exponent}" if exponent else "")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)

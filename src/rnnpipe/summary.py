"""What command 1 prints at the end: which stages ran, each model's headline figure next to its baselines, one
generated line, which registered versions are @champion, the commands to look further (for the user's own shell,
on the store this run used) and one thing to try next. Read in five seconds.

    python -m rnnpipe.summary [--seconds N] [--repro-log FILE]
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rnnpipe.cli import OneLineParser
from rnnpipe.core.io import read_json

WIDTH = 120
INDENT = " " * 14
MODEL_FILES = {"forecaster": "models/forecaster/model.pt", "charrnn": "models/charrnn/model.pt"}
NEXT_STEP = "dvc exp run -S forecaster.hidden_size=96, then dvc exp show --only-changed --drop '.*/'"

# What `dvc repro` logs for each stage it visits (dvc/stage/__init__.py, run.py, cache.py).
_OUTCOMES = [(re.compile(r"^Running stage '([^']+)'"), "ran"),
             (re.compile(r"^Stage '([^']+)' didn't change, skipping"), "up to date"),
             (re.compile(r"^Stage '([^']+)' is cached - skipping run"), "restored from the run cache")]


@dataclass(frozen=True)
class Champion:
    """One registered model: the version that is @champion (None: none yet) and the version(s) the model file in
    the workspace was registered as."""
    name: str
    champion: Optional[str]
    metric: Optional[str] = None
    value: Optional[str] = None
    workspace_versions: tuple[str, ...] = ()


MAX_SECONDS = 366 * 24 * 3600
RESULT_FILES = ("metrics/forecaster.json", "reports/forecast.json", "metrics/forecast.json", "metrics/charrnn.json",
                "samples/text.json")
RESTORE = "`dvc status` names a file that is not what the pipeline wrote; `dvc checkout` restores it"


def _read(root: Path, name: str) -> Optional[dict[str, Any]]:
    """A results file as the pipeline writes it (a JSON object), None when it does not exist yet; anything else is
    a ValueError naming the file."""
    path = root / name
    if not path.is_file():
        return None
    try:
        value = read_json(path)
    except ValueError as exc:  # not UTF-8, not JSON
        raise ValueError(f"{name} cannot be read ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} holds a {type(value).__name__}, not the JSON object the pipeline writes")
    return value


def stage_outcomes(repro_log: str) -> dict[str, str]:
    """{stage: "ran" | "up to date" | "restored from the run cache"} in the order `dvc repro` visited them."""
    outcomes: dict[str, str] = {}
    for line in repro_log.splitlines():
        for pattern, outcome in _OUTCOMES:
            found = pattern.match(line.strip())
            if found:
                outcomes[found.group(1)] = outcome
    return outcomes


def _wrapped(label: str, text: str) -> list[str]:
    """`text` after a 14-character label, broken at ", " so that no line passes WIDTH."""
    lines, current = [], f"  {label:<10}  "
    for piece in text.split(", "):
        candidate = current + piece if current.endswith("  ") else f"{current}, {piece}"
        if len(candidate) > WIDTH - 1 and not current.endswith("  "):
            lines.append(current + ",")
            current = INDENT + piece
        else:
            current = candidate
    return lines + [current]


def stage_lines(outcomes: Optional[dict[str, str]]) -> list[str]:
    if not outcomes:
        return []
    by_outcome: dict[str, list[str]] = {}
    for stage, outcome in outcomes.items():
        by_outcome.setdefault(outcome, []).append(stage)
    if list(by_outcome) == ["up to date"]:
        return [f"  stages      all {len(outcomes)} up to date: nothing ran (the outputs match params.yaml and "
                "the code)"]
    if list(by_outcome) == ["ran"]:
        return [f"  stages      all {len(outcomes)} ran"]
    lines: list[str] = []
    for outcome in ("ran", "restored from the run cache", "up to date"):
        if outcome in by_outcome:
            lines += _wrapped("stages" if not lines else "", f"{outcome}: " + ", ".join(by_outcome[outcome]))
    return lines


def forecaster_lines(forecaster: Optional[dict], forecast: Optional[dict]) -> list[str]:
    if not forecaster:
        return ["  forecaster  no metrics/forecaster.json yet: dvc repro evaluate_forecaster"]
    mse, floor, linear = forecaster["test_mse"], forecaster["noise_floor_mse"], forecaster["linear_ar_mse"]
    ridge = forecaster.get("ridge_ar_mse")
    if ridge is None:
        lines = [f"  forecaster  test MSE {mse:.5f} = {mse / floor:.2f}x the noise floor ({floor:.5f}), "
                 f"{mse / linear:.2f}x a linear AR on the same window ({linear:.5f})"]
    else:
        lines = [f"  forecaster  test MSE {mse:.5f} = {mse / floor:.2f}x the noise floor ({floor:.5f})",
                 f"{INDENT}against linear peers: {mse / linear:.2f}x a linear AR ({linear:.5f}), "
                 f"{mse / ridge:.2f}x a ridge AR ({ridge:.5f})"]
    if forecast:
        steps = f"{forecast['horizon']}-step " if "horizon" in forecast else ""
        lines.append(f"{INDENT}its {steps}recursive forecast: MSE {forecast['mse_vs_clean']:.4f} against the clean "
                     "signal")
    return lines


def charrnn_lines(charrnn: Optional[dict]) -> list[str]:
    if not charrnn:
        return ["  char-RNN    no metrics/charrnn.json yet: dvc repro evaluate_charrnn"]
    alone = charrnn.get("rnn_bits_per_char")
    part = f" (RNN alone {alone:.3f})" if alone is not None and alone != charrnn["bits_per_char"] else ""
    return [f"  char-RNN    {charrnn['bits_per_char']:.3f} bits/char on held-out text{part}; Kneser-Ney "
            f"n-gram {charrnn['ngram_bits_per_char']:.3f}, unigram {charrnn['unigram_bits_per_char']:.3f}"]


def sample_lines(samples: Optional[dict]) -> list[str]:
    if not samples or not samples.get("samples"):
        return []
    sample = samples["samples"][-1]
    text = (samples["prompt"] + sample["text"]).replace("\n", " ")
    return [f"  a sample    «{text[:90].strip()}{'…' if len(text) > 90 else ''}» ({sample['method']}, "
            f"seed {sample['seed']})"]


def champion_lines(champions: Optional[dict[str, Champion]]) -> list[str]:
    lines = []
    for kind, found in (champions or {}).items():
        label = "@champion" if not lines else ""
        if found.champion is None:
            lines.append(f"  {label:<10}  {found.name}: none yet (evaluation makes the first evaluated version it)")
            continue
        figure = f" ({found.metric} {float(found.value):.5g})" if found.metric and found.value else ""
        if found.champion in found.workspace_versions:
            yours = f"the model in {MODEL_FILES[kind]}"
        elif found.workspace_versions:
            yours = f"{MODEL_FILES[kind]} is version {found.workspace_versions[-1]}, a candidate"
        else:
            yours = f"{MODEL_FILES[kind]} is no registered version"
        lines.append(f"  {label:<10}  {found.name} version {found.champion}{figure}: {yours}")
    return lines


def activate_command(root: Path, prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> Optional[str]:
    """The line that gives the user's shell this environment (None outside a virtual environment)."""
    if prefix == base_prefix:
        return None
    venv = Path(prefix)
    try:
        shown = venv.relative_to(root)
    except ValueError:
        shown = venv
    return f"source {shown}/bin/activate"


def command_lines(store: Optional[str], runs_tables: Optional[dict[str, str]], activate: Optional[str]) -> list[str]:
    """The commands to look further, the environment's activation first: command 1 activates it only inside its
    own script, not in the shell that started it."""
    commands = [activate] if activate else []
    if runs_tables and store and store.startswith("http"):
        commands.append(f"the MLflow runs are on {store}:")
    elif runs_tables and store:
        commands.append(f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port 5000, then open")
    commands += [f"  {kind:<10}  {url}" for kind, url in (runs_tables or {}).items() if store]
    commands.append("dvc metrics show; dvc plots show, then open dvc_plots/index.html (it loads Vega from the web)")
    return [f"  {'commands' if i == 0 else '':<10}  {command}" for i, command in enumerate(commands)]


def summary_lines(forecaster: Optional[dict], forecast: Optional[dict], charrnn: Optional[dict],
                  samples: Optional[dict], runs_tables: Optional[dict[str, str]] = None,
                  seconds: Optional[float] = None, store: Optional[str] = None,
                  outcomes: Optional[dict[str, str]] = None, champions: Optional[dict[str, Champion]] = None,
                  activate: Optional[str] = None) -> list[str]:
    """The summary from the metrics and samples files (each may be missing: its line then says how to make it).
    `store`: the tracking URI this run logged to; `outcomes`: what `dvc repro` did per stage (stage_outcomes);
    `activate`: the command that activates the environment (activate_command)."""
    minutes, rest = divmod(int(seconds or 0), 60)
    took = f" in {minutes} min {rest} s" if minutes else f" in {rest} s" if seconds else ""
    lines = [f"rnnpipe: pipeline finished{took}"]
    lines += stage_lines(outcomes)
    lines += forecaster_lines(forecaster, forecast)
    lines += charrnn_lines(charrnn)
    lines += sample_lines(samples)
    lines.append("  files       samples/text.md, samples/forecast.png, plots/*/*.png; metrics/ and reports/*.json")
    lines += champion_lines(champions)
    lines += command_lines(store, runs_tables, activate)
    lines.append(f"  next        {NEXT_STEP}")
    return lines


def tracking_state(root: Path) -> tuple[Optional[str], Optional[dict[str, str]], Optional[dict[str, Champion]]]:
    """The tracking URI this project logs to, the runs-table links of its experiments and each registered model's
    champion, when tracking is on and the store answers (else None, None, None). Creates nothing: a store or an
    experiment that does not exist yet is left so."""
    try:
        from rnnpipe.core.io import file_digest
        from rnnpipe.models import MODELS
        from rnnpipe.params import load_params
        from rnnpipe.tracking.registry import current_champion
        from rnnpipe.tracking.runs import MODEL_TAG, Tracker
        from rnnpipe.tracking.store import resolve_uri

        tracking = load_params(root / "params.yaml").tracking
        uri = resolve_uri(tracking.uri) if tracking.enabled else None
        if uri is None or (uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file()):
            return None, None, None
        tracker = Tracker(True, uri)
        tables, champions = {}, {}
        for kind, descriptor in MODELS.items():
            found = tracker.client.get_experiment_by_name(descriptor.experiment)
            if found is None:
                continue
            tables[kind] = tracker.runs_table_url(descriptor)
            name, metric = descriptor.experiment, descriptor.ranking_metric
            champion = current_champion(tracker.client, name)
            yours: tuple[str, ...] = ()
            model = root / MODEL_FILES[kind]
            if model.is_file():
                runs = tracker.client.search_runs([found.experiment_id],
                                                  filter_string=f"tags.`{MODEL_TAG}` = '{file_digest(model)}'")
                run_ids = {run.info.run_id for run in runs}
                yours = tuple(sorted((str(v.version) for v in tracker.client.search_model_versions(f"name='{name}'")
                                      if v.run_id in run_ids), key=int))
            champions[kind] = Champion(name, str(champion.version) if champion else None, metric,
                                       champion.tags.get(metric) if champion else None, yours)
        return tracker.uri, tables or None, champions or None
    except Exception:  # the summary never fails the command that already ran the pipeline
        return None, None, None


def main() -> None:
    parser = OneLineParser(prog="python -m rnnpipe.summary",
                           description="a five-second summary of the pipeline's results")
    parser.add_argument("--seconds", type=float, help="how long the pipeline took")
    parser.add_argument("--repro-log", type=Path, help="the output of `dvc repro`, to say which stages ran")
    args = parser.parse_args()
    if args.seconds is not None and not (math.isfinite(args.seconds) and 0 <= args.seconds <= MAX_SECONDS):
        sys.exit(f"error: --seconds = {args.seconds} is invalid: allowed is a number of seconds from 0 to "
                 f"{MAX_SECONDS:,} (366 days)")
    if args.repro_log is not None and not args.repro_log.is_file():
        sys.exit(f"error: --repro-log {args.repro_log} is not a file: allowed is a saved output of `dvc repro`")
    root = Path.cwd()
    outcomes = None
    if args.repro_log is not None:
        outcomes = stage_outcomes(args.repro_log.read_text(encoding="utf-8", errors="replace"))
    store, tables, champions = tracking_state(root)
    try:
        results = {name: _read(root, name) for name in RESULT_FILES}
    except ValueError as exc:
        sys.exit(f"error: the pipeline's results cannot be summarised: {exc}; {RESTORE}")
    forecast = {**(results["reports/forecast.json"] or {}), **(results["metrics/forecast.json"] or {})}
    try:
        lines = summary_lines(results["metrics/forecaster.json"], forecast or None, results["metrics/charrnn.json"],
                              results["samples/text.json"], tables, args.seconds, store, outcomes, champions,
                              activate_command(root))
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a figure missing, or of the wrong kind
        sys.exit(f"error: the pipeline's results cannot be summarised: one of {', '.join(RESULT_FILES)} lacks "
                 f"a figure or holds one of the wrong kind ({type(exc).__name__}: {str(exc)[:80]}); {RESTORE}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""`show NAME`: the study as the research log: every trial (params, objective, state, seconds, experiment), the best
trial, parameter importances and a PNG of the objective against the trial number."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional

from rnnpipe.sweep.spec import OVER_COST_ATTR, SweepError


def skipped_for_cost(trial: Any) -> bool:
    return OVER_COST_ATTR in trial.user_attrs


def trial_rows(study: Any, keys: list[str]) -> list[dict[str, Any]]:
    """One row per trial that ran (proposals skipped for their cost are counted apart)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if skipped_for_cost(t):
            continue
        seconds = t.user_attrs.get("seconds")
        if seconds is None and t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 1)
        row = {"trial": t.number, **{k: t.params.get(k, "") for k in keys},
               "objective": t.value if t.state.name == "COMPLETE" else None, "state": t.state.name,
               "seconds": seconds, "exp": _own_experiment(t)}
        if "relative_cost" in t.user_attrs:
            row = {**row, "cost": t.user_attrs["relative_cost"]}
        if t.state.name == "PRUNED":
            row["state"] = f"PRUNED@{t.user_attrs.get('pruned_epoch', '?')}"
        if t.user_attrs.get("feasible") is False:
            row["state"] += " (too slow)"
        retry = t.system_attrs.get("failed_trial")
        if retry is not None:
            row["state"] += f" (retry of {retry})"
        rows.append(row)
    return rows


def _own_experiment(trial: Any) -> str:
    """The trial's experiment name; empty for a queued retry that has not run yet, whose user attrs (copied from the
    trial it retries) still name that trial's experiment."""
    name = trial.user_attrs.get("exp_name", "")
    return name if name.endswith(f"-{trial.number}") else ""


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    if not rows:
        return "(no trials yet)"
    # A column some rows lack (a trial that failed before its cost was known has no `cost`) is empty there.
    header = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[cell(row.get(h)) for h in header] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells])


def best_trial(study: Any) -> Optional[Any]:
    """The best complete trial among those within the sweep's constraint (all complete trials when it has none)."""
    candidates = [t for t in study.get_trials(deepcopy=False)
                  if t.state.name == "COMPLETE" and t.user_attrs.get("feasible", True)]
    if not candidates:
        return None
    pick = min if study.direction.name == "MINIMIZE" else max
    return pick(candidates, key=lambda t: t.value)


def importances(study: Any) -> dict[str, float]:
    """PED-ANOVA: Optuna's own evaluator that needs no scikit-learn (fANOVA's default does)."""
    import optuna

    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(finished) < 2 or not finished[0].params:
        return {}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def plot(study: Any, metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from rnnpipe.core.io import save_figure

    trials = study.get_trials(deepcopy=False)
    fig, ax = plt.subplots(figsize=(7, 4))
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    done = [t for t in complete if t.user_attrs.get("feasible", True)]
    late = [t for t in complete if not t.user_attrs.get("feasible", True)]
    ax.plot([t.number for t in done], [t.value for t in done], "o", label="complete")
    if late:
        ax.plot([t.number for t in late], [t.value for t in late], "o", mfc="none", color="grey",
                label="complete, too slow")
    best, points = math.inf if study.direction.name == "MINIMIZE" else -math.inf, []
    for t in done:
        best = min(best, t.value) if study.direction.name == "MINIMIZE" else max(best, t.value)
        points.append((t.number, best))
    if points:
        ax.step(*zip(*points), where="post", label="best so far")
    pruned = [t.number for t in trials if t.state.name == "PRUNED" and not skipped_for_cost(t)]
    if pruned:
        ax.plot(pruned, [ax.get_ylim()[1]] * len(pruned), "x", color="grey", label="pruned")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(study.study_name)
    ax.legend()
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def check_new_file(option: str, value: Optional[str], force: bool) -> None:
    """An explicit --markdown/--png path is the user's: a file there is replaced only when asked (--force)."""
    if value is None:
        return
    if not value:
        raise SweepError(f"{option} '' is empty: allowed is the path of a file to write")
    if os.path.isdir(value):
        raise SweepError(f"{option} {value}: is a folder: allowed is the path of a file to write")
    if os.path.lexists(value) and not force:
        raise SweepError(f"{option} {value}: the file exists and would be overwritten: remove it first, choose "
                         "another path, or add --force to replace it")


def show(name: str, root: Path, markdown: Optional[str] = None, png: Optional[str] = None,
         force: bool = False) -> str:
    import optuna

    from rnnpipe.sweep.agent import find_study, stored_spec
    from rnnpipe.sweep.spec import spec_from_json
    from rnnpipe.sweep.storage import open_storage, shown, storage_url

    check_new_file("--markdown", markdown, force)
    check_new_file("--png", png, force)
    if markdown and png and Path(markdown).resolve() == Path(png).resolve():
        raise SweepError(f"--markdown and --png name the same file {markdown}: allowed are two different paths")
    url = storage_url(root)
    study = find_study(name, open_storage(url, create=False))
    if study is None:
        raise SweepError(f"no sweep named {name!r} in {shown(url)}")
    spec = spec_from_json(stored_spec(study, name, url), root)
    keys = [d.key for d in spec.space]
    rows = trial_rows(study, keys)
    lines = [f"sweep {name}: {spec.objective.direction} {spec.objective.metric} ({spec.objective.file}); "
             f"{len(rows)} trials in {shown(url)}", "", table(rows, markdown=False), ""]
    over = sum(skipped_for_cost(t) for t in study.get_trials(deepcopy=False))
    if over:
        lines.insert(-1, f"{over} more proposals skipped without training: their training cost (FLOPs) is over the "
                         f"constraint's {spec.max_relative_cost:g}x params.yaml's")
    best = best_trial(study)
    if best is not None:
        lines.append(f"best: trial {best.number} ({best.user_attrs.get('exp_name', '')}) "
                     f"{spec.objective.metric}={best.value:.6g}: "
                     + ", ".join(f"{k}={v}" for k, v in best.params.items())
                     + f"; restore its outputs with `dvc exp apply {best.user_attrs.get('exp_name', '')}`")
    elif spec.max_trial_seconds is not None:
        lines.append(f"best: none yet (no complete trial within {spec.max_trial_seconds:g} s)")
    else:
        lines.append("best: none yet (no complete trial)")
    found = importances(study)
    if found:
        lines.append("importance (PED-ANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()))
    png_path = Path(png) if png else root / ".sweeps" / f"{name}.png"
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        plot(study, spec.objective.metric, png_path)
        lines.append(f"plot: {png_path}")
    if markdown:
        from rnnpipe.core.io import write_text

        write_text(markdown, f"Sweep `{name}`: {spec.objective.direction} `{spec.objective.metric}`\n\n"
                   + table(rows, markdown=True) + "\n")
        lines.append(f"markdown: {markdown}")
    return "\n".join(lines)

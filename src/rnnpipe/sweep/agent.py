"""Agents: `run` creates the study of a sweep file (or finds it) and works on it; `agent NAME` joins one that exists.

An agent loops until the budget is spent: it fails the trials of agents whose heartbeat stopped (Optuna queues a
retry of each), starts a trial while finished + running trials are fewer than the budget, waits while the rest
run elsewhere (one of them may die and come back as a retry), and stops at the study's wall-time deadline.
The study keeps the sweep spec, the MLflow parent run id and the deadline as user attrs, so an agent on another
machine needs only the sweep's name.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from rnnpipe.core.errors import ParamsError, TrackingError, first_line
from rnnpipe.sweep.spec import (OVER_COST_ATTR, SweepError, SweepSpec, grid_size, load_spec, relative_cost,
                                spec_from_json, workspace_lock)
from rnnpipe.sweep.storage import MAX_RETRIES, open_storage, shown, sqlite_file, storage_url
from rnnpipe.sweep.trial import LOG_DIR, TrialResult, base_env, exp_name, run_trial

SPEC_ATTR, PARENT_ATTR, DEADLINE_ATTR = "spec", "mlflow_parent_run_id", "deadline_unix"
# `run` writes a new study's spec a moment after creating it: an agent joining then waits this long for it.
SPEC_GRACE_SECONDS = 2.0
FINISHED = ("COMPLETE", "PRUNED")
# Trials skipped for their cost do not use up the budget; a space that is nearly all over the cost stops the agent.
MAX_SKIPPED_IN_A_ROW = 200
# Failed trials do not use up the budget: a setup that fails every trial (broken code, a full disk) stops the agent.
MAX_FAILURES_IN_A_ROW = 3


def study_name(spec_name: str) -> str:
    return f"rnnpipe-sweep-{spec_name}"


def start(spec_path: str, root: Path, warm: bool = True) -> int:
    """`run sweeps/X.yaml`: check everything, create (or resume) the study, then work as an agent."""
    spec = load_spec(spec_path, root)
    with stage_server(root, warm) as server:  # it loads while the study and MLflow are checked
        url = storage_url(root)
        storage = open_storage(url)
        tracker = _tracker(root)
        study = find_study(spec.name, storage)
        created = False
        if study is None or SPEC_ATTR not in study.user_attrs:
            _check_names_free(spec.name, root, url)
            study, created = _create(spec, storage, tracker)
        if created:
            print(f"sweep {spec.name}: study created in {shown(url)}")
        elif study.user_attrs.get(SPEC_ATTR) != spec.to_json():
            raise SweepError(f"{spec_path}: sweep {spec.name} already has a study in {shown(url)} made from a "
                             "different file: rename this file for a new sweep, or restore the one the study was "
                             "made from")
        else:
            print(f"sweep {spec.name}: resuming the study in {shown(url)}")
            if spec.sampler == "grid":
                retried = retry_failed_grid_points(study)
                if retried:
                    print(f"sweep {spec.name}: grid points whose every trial failed run again: a retry of trial "
                          + ", ".join(map(str, retried)))
        return work(spec.name, root, tracker, first_agent=created, server=server)


def _check_names_free(name: str, root: Path, url: str) -> None:
    """A new study names its trials' experiments NAME-0, NAME-1, ...: experiments of those names from an earlier
    study (its storage since deleted or another) would make the trials fail (`dvc exp run` refuses a name in use
    under the same commit) or be mistaken for them. Nothing of the user's is removed: they choose."""
    from rnnpipe.sweep.trial import experiments_named

    taken = experiments_named(root, f"{name}-")
    if taken:
        shown_names = " ".join(taken) if len(taken) <= 6 else f"{' '.join(taken[:3])} ... {taken[-1]}"
        raise SweepError(f"sweep {name}: no study of this name in {shown(url)}, but this clone has {len(taken)} "
                         f"experiment(s) of an earlier one ({shown_names}): remove them (`dvc exp remove "
                         f"{' '.join(taken)}`) or rename the sweep file")


def join(name: str, root: Path, warm: bool = True) -> int:
    """`agent NAME`: one line if the study does not exist, and nothing made (no SQLite file, no stage server; a
    server's database gets Optuna's tables, as `run` would make them); otherwise work on it."""
    url = storage_url(root)
    database = sqlite_file(url)
    storage = None if database is not None and not database.exists() else open_storage(url, create=database is None)
    if storage is None or find_study(name, storage) is None:
        raise SweepError(f"no sweep named {name!r} in {shown(url)}: start it with `python -m rnnpipe.sweep run "
                         f"sweeps/{name}.yaml` (or set RNNPIPE_SWEEP_STORAGE to the team's study storage)")
    with stage_server(root, warm) as server:
        _written(name, storage, timeout=SPEC_GRACE_SECONDS, url=url)  # before MLflow is touched
        tracker = _tracker(root)
        return work(name, root, tracker, first_agent=False, server=server)


def stage_server(root: Path, warm: bool) -> Any:
    """warm: the trials' stages run in forks of one warm interpreter (rnnpipe.warm); False: each starts cold."""
    if not warm:
        return contextlib.nullcontext(None)
    from rnnpipe.warm.launcher import running

    return running(root, base_env(root), root / LOG_DIR / "stage-server.log")


def work(name: str, root: Path, tracker: Any, first_agent: bool, server: Any = None) -> int:
    """server: the agent's stage server (rnnpipe.warm.launcher.StageServer); None: every stage starts cold."""
    import optuna

    url = storage_url(root)
    spec = spec_from_json(stored_spec(find_study(name, open_storage(url)), name, url), root)
    storage = open_storage(url, heartbeat_seconds=spec.heartbeat_seconds)
    study = optuna.load_study(study_name=study_name(name), storage=storage, sampler=_sampler(spec, first_agent))
    parent_run_id = study.user_attrs.get(PARENT_ATTR)
    deadline = study.user_attrs.get(DEADLINE_ATTR)
    ran = failures = skipped = 0
    grid_points = grid_size(spec.space) if spec.sampler == "grid" else 0
    with _sigterm_as_interrupt():
        while True:
            optuna.storages.fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            states = [t.state.name for t in trials if OVER_COST_ATTR not in t.user_attrs]
            done, running = sum(s in FINISHED for s in states), states.count("RUNNING")
            if deadline is not None and time.time() >= deadline:
                print(f"sweep {name}: wall-time budget spent ({done} trials finished)")
                break
            if spec.trials is not None and done >= spec.trials:
                break
            if spec.sampler == "grid" and grid_used_up(trials, grid_points):
                if not running:
                    break
            elif spec.trials is None or done + running < spec.trials:
                result = _one_trial(study, spec, root, url, parent_run_id,
                                    server.stage_env() if server is not None else None)
                if result.state == "SKIPPED":
                    skipped += 1
                    if skipped == MAX_SKIPPED_IN_A_ROW:
                        raise SweepError(f"sweep {name}: {skipped} proposals in a row cost more than the constraint's "
                                         f"max_relative_cost {spec.max_relative_cost:g}: raise it or narrow the space")
                    continue
                ran, skipped = ran + 1, 0
                failures = failures + 1 if result.state == "FAIL" else 0
                if failures == MAX_FAILURES_IN_A_ROW:
                    raise SweepError(f"sweep {name}: {failures} trials in a row failed on this agent, the last with: "
                                     f"{result.reason}")
                continue
            time.sleep(1.0)  # the last trials run elsewhere (one may die and be retried): their end is seen within 1 s
    _finish_parent(tracker, parent_run_id, study)
    print(f"sweep {name}: this agent ran {ran} trials; `python -m rnnpipe.sweep show {name}` shows them all")
    return 0


COST_CONSTRAINT = "cost_over_limit"


def set_cost_constraint(trial: Any, over_limit: float) -> None:
    """The trial's cost over the sweep's max_relative_cost (<= 0: feasible), which TPE reads when it samples. A retry
    of a killed trial has it already (Optuna copies the trial's system attrs, and the same params cost the same):
    setting it again would only make Optuna warn."""
    from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

    if f"{_CONSTRAINTS_KEY}:{COST_CONSTRAINT}" not in trial.storage.get_trial_system_attrs(trial._trial_id):
        trial.set_constraint(COST_CONSTRAINT, over_limit)


def _one_trial(study: Any, spec: SweepSpec, root: Path, url: str, parent_run_id: Optional[str],
               stage_env: Optional[dict[str, str]] = None) -> TrialResult:
    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread  # what study.optimize runs around each trial

    from rnnpipe.sweep.report import PRUNED_ATTR

    trial = study.ask()
    with get_heartbeat_thread(trial._trial_id, study._storage):
        params = {d.key: _suggest(trial, d) for d in spec.space}
        name = exp_name(spec.name, trial.number)
        trial.set_user_attr("exp_name", name)
        retry = study._storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
        print(f"sweep {spec.name}: trial {trial.number} ({name}){f', a retry of trial {retry}' if retry is not None else ''}: "
              + ", ".join(f"{k}={v}" for k, v in params.items()), flush=True)

        if spec.max_relative_cost is not None:
            try:
                cost = relative_cost(spec, root, params)
            except (SweepError, ParamsError) as exc:  # the values break a rule of params.yaml, as check_params would say
                cost, reason = None, first_line(exc)
            if cost is None:
                trial.set_user_attr("fail_reason", reason)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                print(f"sweep {spec.name}: trial {trial.number} FAIL: {reason}", file=sys.stderr, flush=True)
                return TrialResult("FAIL", reason=reason)
            trial.set_user_attr("relative_cost", round(cost, 3))
            set_cost_constraint(trial, cost - spec.max_relative_cost)
            if cost > spec.max_relative_cost:
                trial.set_user_attr(OVER_COST_ATTR, True)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                print(f"sweep {spec.name}: trial {trial.number} skipped: its training costs {cost:.2f}x params.yaml's, "
                      f"over the constraint's {spec.max_relative_cost:g}x", flush=True)
                return TrialResult("SKIPPED")

        def was_pruned() -> bool:
            return PRUNED_ATTR in study._storage.get_trial(trial._trial_id).user_attrs

        try:
            result = run_trial(root, spec, url, study.study_name, trial._trial_id, trial.number, params,
                               parent_run_id, was_pruned, stage_env)
        except KeyboardInterrupt:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            frozen = study._storage.get_trial(trial._trial_id)
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, frozen)
            print(f"sweep {spec.name}: trial {trial.number} stopped with this agent: FAIL, queued to run again",
                  file=sys.stderr)
            raise
        except Exception as exc:  # reading the result, git, a store: the trial fails, the agent goes on
            result = TrialResult("FAIL", reason=first_line(exc))
    trial.set_user_attr("seconds", round(result.seconds, 1))
    if result.state == "COMPLETE":
        over = spec.max_trial_seconds is not None and result.seconds > spec.max_trial_seconds
        if spec.max_trial_seconds is not None:  # before tell: TPE reads both when it samples the next trial
            trial.set_user_attr("feasible", not over)
            trial.set_constraint("seconds_over_limit", result.seconds - spec.max_trial_seconds)
        study.tell(trial, result.value)
        shared = {None: "", True: ", pushed", False: ", NOT pushed"}[result.pushed]
        late = f", over the {spec.max_trial_seconds:g} s constraint: not a candidate for best" if over else ""
        print(f"sweep {spec.name}: trial {trial.number} COMPLETE {spec.objective.metric}={result.value:.6g} "
              f"in {result.seconds:.0f}s{shared}{late}", flush=True)
    elif result.state == "PRUNED":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        print(f"sweep {spec.name}: trial {trial.number} PRUNED in {result.seconds:.0f}s", flush=True)
    else:
        trial.set_user_attr("fail_reason", result.reason)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        print(f"sweep {spec.name}: trial {trial.number} FAIL: {result.reason}", file=sys.stderr, flush=True)
    return result


def grid_used_up(trials: Sequence[Any], points: int) -> bool:
    """Whether each of a grid's `points` has a trial that ran or runs (complete, pruned, skipped for its cost,
    failed, running) and no retry waits: Optuna's grid sampler would answer one more ask() with a point again (its
    "re-evaluating a configuration"). Skipped points do not use up the budget, so on a grid with one of them the
    budget alone would ask once too often. Failed points run again when `run` resumes (retry_failed_grid_points)."""
    if any(t.state.name == "WAITING" for t in trials):
        return False
    return len({_grid_point(t) for t in trials if t.params}) >= points


def _grid_point(trial: Any) -> tuple[tuple[str, Any], ...]:
    """A grid point is its params (the grid ids agents record may disagree between agent versions)."""
    return tuple(sorted(trial.params.items()))


def retry_failed_grid_points(study: Any) -> list[int]:
    """Queue a retry of the last trial of each grid point whose trials all failed (none complete, pruned, running
    or waiting), at most MAX_RETRIES times per point; the numbers of the trials retried.

    Optuna's grid sampler counts a failed point as visited, so once every point has been tried a resumed sweep would
    draw points at random again (completed ones included, which the run cache restores and the budget counts) and
    never rerun the points that failed for a reason since fixed (params.yaml, the code, a full disk). `run` calls
    this when it resumes a grid sweep; agents that join do not, so two of them never queue the same retry."""
    import optuna

    by_point: dict[tuple[tuple[str, Any], ...], list[Any]] = {}
    for t in study.get_trials(deepcopy=False):
        if "grid_id" in t.system_attrs:
            by_point.setdefault(_grid_point(t), []).append(t)
    retried = []
    for trials in by_point.values():
        if all(t.state == optuna.trial.TrialState.FAIL for t in trials):
            last = max(trials, key=lambda t: t.number)
            before = len(study.get_trials(deepcopy=False))
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, last)
            if len(study.get_trials(deepcopy=False)) > before:
                retried.append(last.number)
    return sorted(retried)


def _suggest(trial: Any, d: Any) -> Any:
    if d.kind == "categorical":
        return trial.suggest_categorical(d.key, list(d.choices))
    if d.kind == "int":
        return trial.suggest_int(d.key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
    return trial.suggest_float(d.key, float(d.low), float(d.high), step=d.step, log=d.log)


def _sampler(spec: SweepSpec, first_agent: bool) -> Any:
    """The sweep's seed drives the agent that created the study; every other agent draws from a seed of its own,
    or two agents with one seed would propose the same params (the study stays reproducible only with one agent)."""
    import optuna

    seed = spec.seed
    if seed is not None and not first_agent:
        seed = int.from_bytes(hashlib.sha256(f"{seed} {socket.gethostname()} {os.getpid()}".encode()).digest()[:4],
                              "little")
    if spec.sampler == "grid":
        return _GridWithinBudget({d.key: d.grid_values() for d in spec.space}, order_seed=spec.seed, seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, (spec.trials or 20) // 3)))


def _GridWithinBudget(search_space: dict[str, list[Any]], order_seed: Optional[int], seed: Optional[int]) -> Any:
    """Optuna's grid sampler, minus its study.stop() once the grid is used up (stop() works only inside
    study.optimize; the budget, at most the grid's size, ends the agent here).

    Optuna shuffles the grid with the sampler's seed and records each trial's point as an index into it, so every
    agent must shuffle it alike (order_seed: the sweep's) or one agent's index names another point in another agent's
    grid (points run twice, others never); `seed` (the agent's own) draws among the points not yet taken."""
    import optuna
    from optuna.samplers._lazy_random_state import LazyRandomState

    class GridWithinBudget(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    sampler = GridWithinBudget(search_space, seed=order_seed)
    sampler._rng = LazyRandomState(seed)  # after the shuffle: from here on it only picks among unvisited points
    return sampler


def find_study(name: str, storage: Any) -> Any:
    import optuna

    try:
        return optuna.load_study(study_name=study_name(name), storage=storage)
    except KeyError:
        return None


def _create(spec: SweepSpec, storage: Any, tracker: Any) -> tuple[Any, bool]:
    """The sweep's study and whether this agent created it. Of several `run`s started together exactly one creates
    it (and the MLflow parent run); the others wait until its attributes are written, then join."""
    import optuna

    try:
        study = optuna.create_study(study_name=study_name(spec.name), storage=storage,
                                    direction=spec.objective.direction)
    except optuna.exceptions.DuplicatedStudyError:
        return _written(spec.name, storage), False
    if spec.minutes is not None:
        study.set_user_attr(DEADLINE_ATTR, time.time() + 60 * spec.minutes)
    if tracker is not None:
        from rnnpipe.models import MODELS

        run = tracker.client.create_run(tracker.experiment_id(MODELS[spec.model_kind]), run_name=f"sweep {spec.name}",
                                        tags={"sweep": spec.name, "sweep_parent": "true",
                                              "sweep_objective": f"{spec.objective.direction} "
                                                                 f"{spec.objective.metric}"})
        study.set_user_attr(PARENT_ATTR, run.info.run_id)
    study.set_user_attr(SPEC_ATTR, spec.to_json())  # last: an agent that sees the spec sees the rest too
    return study, True


def _written(name: str, storage: Any, timeout: float = 120, url: Optional[str] = None) -> Any:
    """The study another agent is creating, once its spec (written last) is there. With url, a study that still has
    none after timeout is refused as one `run` did not make (stored_spec)."""
    deadline = time.monotonic() + timeout
    while True:
        study = find_study(name, storage)
        if study is not None and SPEC_ATTR in study.user_attrs:
            return study
        if time.monotonic() > deadline:
            if url is not None and study is not None:
                stored_spec(study, name, url)
            raise SweepError(f"sweep {name}: its study exists but its creator never finished writing it (the agent "
                             f"that created it died?): delete the study and start again")
        time.sleep(0.2)


def stored_spec(study: Any, name: str, url: str) -> str:
    """The sweep file a study keeps; a study made some other way (Optuna's API, another tool) has none to run by."""
    if SPEC_ATTR not in study.user_attrs:
        raise SweepError(f"study {study_name(name)} in {shown(url)} was not made by `python -m rnnpipe.sweep run`: it "
                         f"keeps no sweep file (user attr {SPEC_ATTR!r}); allowed are sweeps that `run` created "
                         "(python -m rnnpipe.sweep run sweeps/NAME.yaml)")
    return study.user_attrs[SPEC_ATTR]


def _tracker(root: Path) -> Any:
    """MLflow as the stages will see it, checked before any trial (a dead server is one line here)."""
    from rnnpipe.params import load_params
    from rnnpipe.tracking.runs import Tracker

    with workspace_lock(root):
        params = load_params(root / "params.yaml")
    if not params.tracking.enabled:
        return None
    try:
        return Tracker(True, params.tracking.uri)
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(f"MLflow is not usable: {first_line(exc)}") from None


def _finish_parent(tracker: Any, run_id: Optional[str], study: Any) -> None:
    """The parent run ends once the study's budget is spent; its metric `objective` (step = trial) draws the
    search's progress in the UI."""
    if tracker is None or run_id is None:
        return
    trials = study.get_trials(deepcopy=False)
    if any(t.state.name in ("RUNNING", "WAITING") for t in trials):
        return
    client = tracker.client
    for t in trials:
        if t.state.name == "COMPLETE":
            client.log_metric(run_id, "objective", t.value, step=t.number)
    client.set_terminated(run_id, "FINISHED")


class _sigterm_as_interrupt:
    """SIGTERM and SIGHUP stop an agent as Ctrl-C does: its trial's guard ends the trial, the trial is FAIL and
    queued again."""

    def __enter__(self) -> None:
        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(signal.Signals(signum).name)

        self._previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def root_of_checkout() -> Path:
    """The repository the command runs in (its dvc.yaml), like rnnpipe.tracking.store.project_root()."""
    from rnnpipe.tracking.store import project_root

    root = project_root()
    if not (root / "dvc.yaml").is_file():
        raise SweepError(f"{root} has no dvc.yaml: run sweeps from the project's root folder")
    return root


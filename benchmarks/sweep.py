"""Sweep benchmark, every part measured in this one run and printed side by side.

    python benchmarks/sweep.py [--parts storage overhead agents] [--trials 8] [--storage-trials 200]

storage   Optuna's journal file against SQLite, two agent processes on one study (trivial objective): trials
          finished, errors, wall seconds, and whether the storage keeps heartbeats (what turns a killed agent's
          trial into FAIL and a retry). The sweep code uses SQLite for the local study.
overhead  one agent, --trials tiny forecaster trials (tracking on, local MLflow store), with the stages in forks of
          the agent's warm interpreter (the default, rnnpipe.warm), then the same with --cold: per trial, the agent's
          wall time against the training stage's own fit time (MLflow metric train_seconds); the rest is the
          trial's overhead (dvc exp setup and commit, check_params, stage start-up, MLflow, Optuna); then plain
          `dvc exp run --temp` of the same stage with new params (cold), so the sweep's own share shows.
          Beside the wall seconds, the CPU seconds (user + system) of every process of a trial: on a machine other
          work shares, they move far less than the wall time does.
agents    the same --trials tiny trials with 1 agent, then with 2 agents (runtime.threads 1 each, so they do not
          fight over cores), each in a fresh copy; wall time of each and the ratio 2 agents / 1 agent.
Copies of the project go under a temporary folder, removed at the end; each has run its tiny pipeline first
(tracking on), as a project has when its sweeps start, so its MLflow store exists.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arguments import ArgumentParser, check_integer  # noqa: E402  (benchmarks/, beside this script)
from tests.integration.helpers import make_copy  # noqa: E402

TINY_SWEEP = """stages: [train_forecaster]
space:
  forecaster.hidden_size: {int: [2, 8]}
  forecaster.input_noise: {float: [0.0, 0.3]}
objective: {file: reports/forecaster_train.json, metric: kept_val_mse, direction: minimize}
budget: {trials: %d}
sampler: {type: random, seed: 0}
heartbeat_seconds: 5
"""


def storage_agent(kind: str, path: str, trials: int) -> None:
    """One agent process of the storage part: ask/tell `trials` trivial trials on the shared study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(path))
    else:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.load_study(study_name="bench", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=trials)


def part_storage(trials: int, work: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"\n== storage: 2 agent processes x {trials} trivial trials on one study")
    print(f"{'storage':<10} {'finished':>8} {'errors':>6} {'wall s':>7} {'trials/s':>8}  heartbeat")
    for kind in ("journal", "sqlite"):
        path = work / ("study.log" if kind == "journal" else "study.db")
        storage = JournalStorage(JournalFileBackend(str(path))) if kind == "journal" else f"sqlite:///{path}"
        optuna.create_study(study_name="bench", storage=storage)
        start = time.perf_counter()
        agents = [subprocess.Popen([sys.executable, __file__, "--storage-agent", kind, str(path), str(trials)],
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
        errors = sum(agent.wait() != 0 for agent in agents)
        wall = time.perf_counter() - start
        study = optuna.load_study(study_name="bench", storage=storage)
        finished = sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))
        heartbeat = "yes" if isinstance(study._storage, optuna.storages._heartbeat.BaseHeartbeat) or \
            hasattr(getattr(study._storage, "_backend", None), "record_heartbeat") else "no"
        print(f"{kind:<10} {finished:>8} {errors:>6} {wall:>7.1f} {finished / wall:>8.1f}  {heartbeat}")


def tiny_copy(work: Path, name: str, trials: int, threads: int | None = None):
    params = {"tracking": {"enabled": True}, "forecaster": {"epochs": 4}}
    if threads:
        params["runtime"] = {"threads": threads}
    copy = make_copy(work / name, params)
    # As a project is when its sweeps start: its pipeline has run (README command 1), so the series exist and so
    # does the MLflow store. Creating a new store costs 6-9 s once, which no trial pays.
    copy.repro("train_forecaster")
    (copy.root / "sweeps" / "bench.yaml").write_text(TINY_SWEEP % trials, encoding="utf-8")
    copy.commit("bench")
    return copy


def agent_command(copy, *args: str) -> subprocess.Popen:
    env = {**copy.env, "PYTHONPATH": str(copy.root / "src")}
    return subprocess.Popen([sys.executable, "-m", "rnnpipe.sweep", *args], cwd=copy.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def children_cpu() -> float:
    """CPU seconds (user + system) of every process this one started and waited for, their children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime




def run_agents(copy, agents: int, *flags: str) -> float:
    """`agents` agents started together, as on several terminals or machines: each `run` of the same sweep file
    creates the study or joins the one another `run` created a moment before."""
    start = time.perf_counter()
    started = [agent_command(copy, "run", "sweeps/bench.yaml", *flags) for _ in range(agents)]
    for agent in started:
        output, _ = agent.communicate()
        if agent.returncode != 0:
            raise SystemExit(f"agent failed:\n{output}")
    return time.perf_counter() - start


def trial_times(copy) -> list[tuple[float, float]]:
    """(agent's trial seconds, the training stage's fit seconds) per complete trial."""
    import optuna
    from mlflow.tracking import MlflowClient

    study = optuna.load_study(study_name="rnnpipe-sweep-bench", storage=f"sqlite:///{copy.root}/.sweeps/optuna.db")
    client = MlflowClient(f"sqlite:///{copy.root}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.sweep = 'bench'")
    fit = {r.data.tags.get("trial"): r.data.metrics.get("train_seconds", 0.0) for r in runs}
    return [(t.user_attrs["seconds"], fit.get(str(t.number), 0.0))
            for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def bare_exp_runs(copy, count: int) -> list[tuple[float, float]]:
    """The same kind of trial without the sweep: plain `dvc exp run --temp -S ...` of train_forecaster, new params
    each time (so nothing comes from the run cache), tracking on as in the trials."""
    seconds = []
    for index in range(count):
        start, cpu = time.perf_counter(), children_cpu()
        copy.dvc("exp", "run", "--temp", "-n", f"bare-{index}", "-S", f"forecaster.input_noise={0.31 + index / 100}",
                 "train_forecaster")
        seconds.append((time.perf_counter() - start, children_cpu() - cpu))
    return seconds


def part_overhead(trials: int, work: Path) -> None:
    runs, cpu_per_trial = {}, {}
    for mode, flags in (("warm", ()), ("cold", ("--cold",))):
        copy = tiny_copy(work, f"overhead-{mode}", trials)
        cpu = children_cpu()
        run_agents(copy, 1, *flags)
        runs[mode] = trial_times(copy)
        cpu_per_trial[mode] = (children_cpu() - cpu) / max(len(runs[mode]), 1)
    bare = bare_exp_runs(copy, min(trials, 4))
    print(f"\n== overhead: {trials} tiny forecaster trials, 1 agent, stages warm (the default) then --cold; "
          f"{len(bare)} plain dvc exp runs of the same")
    print(f"{'':<46} {'median s':>8} {'min s':>6} {'max s':>6}")
    rows = [("training fit", [f for _, f in runs["warm"] + runs["cold"]])]
    for mode in ("warm", "cold"):
        rows += [(f"trial, {mode} stages (agent's view)", [t for t, _ in runs[mode]]),
                 (f"overhead, {mode} stages (trial - fit)", [t - f for t, f in runs[mode]])]
    rows += [("plain `dvc exp run --temp` (no sweep)", [wall for wall, _ in bare]),
             ("plain run, CPU s of all its processes", [used for _, used in bare])]
    for label, values in rows:
        print(f"{label:<46} {statistics.median(values):>8.1f} {min(values):>6.1f} {max(values):>6.1f}")
    for mode in ("warm", "cold"):
        print(f"{f'CPU s per trial, {mode} (agent and all it ran)':<46} {cpu_per_trial[mode]:>8.1f}")
    warm, cold = (statistics.median([t - f for t, f in runs[m]]) for m in ("warm", "cold"))
    print(f"{'overhead warm / cold':<46} {warm / cold:>8.2f}")


def part_agents(trials: int, work: Path) -> None:
    one = run_agents(tiny_copy(work, "one-agent", trials, threads=1), 1)
    two = run_agents(tiny_copy(work, "two-agents", trials, threads=1), 2)
    print(f"\n== agents: {trials} tiny trials, runtime.threads 1 per agent")
    print(f"{'1 agent s':>10} {'2 agents s':>11} {'2 / 1':>6}")
    print(f"{one:>10.1f} {two:>11.1f} {two / one:>6.2f}")


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=["storage", "overhead", "agents"],
                        choices=["storage", "overhead", "agents"])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--storage-trials", type=int, default=200)
    parser.add_argument("--storage-agent", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.storage_agent:
        kind, path, trials = args.storage_agent
        storage_agent(kind, path, int(trials))
        return
    check_integer("--trials", args.trials)
    check_integer("--storage-trials", args.storage_trials)
    print(f"machine: {os.cpu_count()} cores; {cpu_name()}")
    work = Path(tempfile.mkdtemp(prefix="rnnpipe-sweep-bench-"))
    try:
        for part in args.parts:
            {"storage": part_storage, "overhead": part_overhead, "agents": part_agents}[part](
                args.storage_trials if part == "storage" else args.trials, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


if __name__ == "__main__":
    main()

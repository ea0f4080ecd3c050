"""One trial: `dvc --wait-for-lock exp run --temp -n <sweep>-<trial> -S key=value ... <stages>` under a guard
process, its objective read from the experiment DVC committed, and the experiment shared (`dvc exp push`) when the
clone has a git remote. Waiting for DVC's repo lock lets agents of one clone start trials at the same moment: each
holds it only while it stashes its workspace (rnnpipe.sweep.spec.workspace_lock).
dvc runs through rnnpipe.sweep.dvc_cli, its own command line minus the collector's passes at exit.

The trial's identity reaches the stages by environment variables: RNNPIPE_RUN_TAGS (rnnpipe.tracking.runs) puts
the sweep, the trial and the parent run on the training run; RNNPIPE_SWEEP_* (rnnpipe.sweep.report) let training
report each epoch to the trial and stop when it is pruned.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rnnpipe.sweep import report
from rnnpipe.sweep.spec import SweepSpec, override_value, trial_params
from rnnpipe.warm import ADDRESS_ENV

LOG_DIR = Path(".sweeps") / "logs"
EXPERIMENT_REFS = "refs/exps/*/*/*"  # refs/exps/<2 hex>/<38 hex>/NAME: DVC's experiments, not its exec and apply refs


@dataclass
class TrialResult:
    state: str                         # COMPLETE | PRUNED | FAIL | SKIPPED (over the cost constraint, not run)
    value: Optional[float] = None
    reason: str = ""                   # FAIL: the last error line of the trial's log
    seconds: float = 0.0
    pushed: Optional[bool] = None      # None: no git remote to push to


def exp_name(sweep: str, number: int) -> str:
    return f"{sweep}-{number}"


def tool(name: str) -> str:
    """dvc from the agent's own environment (the one its tests and docs install), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def trial_command(root: Path, spec: SweepSpec, name: str, params: dict[str, Any]) -> list[str]:
    overrides = [part for key, value in params.items() for part in ("-S", f"{key}={override_value(value)}")]
    copies = [f"--copy-paths={path}" for path in untracked_inputs(root, params)]  # a path may start with "-"
    return [sys.executable, "-m", "rnnpipe.sweep.guard", str(root), "--",
            sys.executable, "-m", "rnnpipe.sweep.dvc_cli", "--wait-for-lock", "exp", "run", "--temp", "-n", name,
            *copies, *overrides, *spec.stages]


def untracked_inputs(root: Path, params: dict[str, Any]) -> list[str]:
    """The trial's corpus (corpus.path, relative: a file or folder in the checkout) where git does not track all of
    it. `dvc exp run --temp` builds the trial's workspace from what git tracks, so without --copy-paths the text
    would be missing there and every trial would fail."""
    path = trial_params(root, params)[1].get("corpus", {}).get("path")
    if not isinstance(path, str) or not path or Path(path).is_absolute() or not (root / path).exists():
        return []
    untracked = git(root, "ls-files", "--others", "--", path, check=False).stdout.strip()
    return [path] if untracked else []


def base_env(root: Path) -> dict[str, str]:
    """The agent's environment with the checkout's code first on the import path: its trials', and their stage
    server's (rnnpipe.warm)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    return env


def trial_env(spec: SweepSpec, storage_url: str, study_name: str, trial_id: int, number: int,
              parent_run_id: Optional[str], root: Path, stage_env: Optional[dict[str, str]] = None) -> dict[str, str]:
    """stage_env: the agent's environment plus its stage server's address (rnnpipe.warm); None: stages start cold."""
    if stage_env is None:
        env = base_env(root)
        env.pop(ADDRESS_ENV, None)  # cold means cold, whatever the agent's shell exported
    else:
        env = dict(stage_env)
    tags = {"sweep": spec.name, "trial": str(number)}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    env["RNNPIPE_RUN_TAGS"] = json.dumps(tags)
    env.pop(report.PRUNER_ENV, None)
    env.update({report.STORAGE_URL_ENV: storage_url, report.STUDY_ENV: study_name,
                report.TRIAL_ID_ENV: str(trial_id)})
    if spec.pruning is not None:
        sign = 1 if spec.objective.direction == "minimize" else -1
        env[report.PRUNER_ENV] = f"{spec.pruning.startup_trials},{spec.pruning.warmup_epochs},{sign}"
    return env


def run_trial(root: Path, spec: SweepSpec, storage_url: str, study_name: str, trial_id: int, number: int,
              params: dict[str, Any], parent_run_id: Optional[str], was_pruned: Any,
              stage_env: Optional[dict[str, str]] = None) -> TrialResult:
    """Run the experiment to its end. KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) stops the guard,
    which ends the trial's processes and deletes its temporary workspace, then propagates."""
    name = exp_name(spec.name, number)
    log_path = root / LOG_DIR / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    baseline = git(root, "rev-parse", "HEAD").stdout.strip()  # the commit dvc exp run files the experiment under
    with open(log_path, "w", encoding="utf-8") as log:
        guard = subprocess.Popen(trial_command(root, spec, name, params), cwd=root, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=trial_env(spec, storage_url, study_name, trial_id, number, parent_run_id, root,
                                               stage_env))
        try:
            code = guard.wait()
        except BaseException:
            guard.send_signal(signal.SIGTERM)
            guard.wait()
            raise
    seconds = time.monotonic() - start
    if code != 0:
        if was_pruned():
            return TrialResult("PRUNED", seconds=seconds)
        return TrialResult("FAIL", reason=last_error(log_path), seconds=seconds)
    value = objective_value(root, name, spec.objective.file, spec.objective.metric, baseline)
    return TrialResult("COMPLETE", value=value, seconds=seconds, pushed=push(root, name))


def last_error(log_path: Path) -> str:
    lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors[0] if errors else next((l for l in reversed(lines) if l), "no output"))[:300] + f" (log: {log_path})"


# --- the experiment's result ----------------------------------------------------------------------------------------

def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result


def exp_ref(root: Path, name: str, baseline: Optional[str] = None) -> str:
    """The experiment NAME filed under `baseline` (refs/exps/<2 hex>/<38 hex>/NAME); without one there (HEAD moved
    while the trial ran), the newest experiment of that name. Experiments of one name under other commits are
    older ones: their objective is not this trial's."""
    refs = git(root, "for-each-ref", "--sort=-committerdate", "--format=%(refname)", EXPERIMENT_REFS).stdout.split()
    matches = [ref for ref in refs if ref.rsplit("/", 1)[-1] == name]
    own = f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}" if baseline else None
    if own in matches:
        return own
    if not matches:
        raise RuntimeError(f"dvc exp run succeeded but no experiment ref named {name} exists")
    return matches[0]


def experiments_named(root: Path, prefix: str) -> list[str]:
    """The names of this clone's experiments that are PREFIX followed by a number, under any commit."""
    refs = git(root, "for-each-ref", "--format=%(refname:lstrip=-1)", EXPERIMENT_REFS).stdout.split()
    return sorted({ref for ref in refs if ref.startswith(prefix) and ref[len(prefix):].isdigit()},
                  key=lambda ref: int(ref[len(prefix):]))


def objective_value(root: Path, name: str, file: str, metric: str, baseline: Optional[str] = None) -> float:
    """The metric as the experiment committed it: from git (metrics kept in git) or, for an output in DVC's cache,
    through the md5 that the experiment's dvc.lock records."""
    ref = exp_ref(root, name, baseline)
    shown = git(root, "show", f"{ref}:{file}", check=False)
    if shown.returncode == 0:
        data = json.loads(shown.stdout)
    else:
        import yaml

        lock = yaml.safe_load(git(root, "show", f"{ref}:dvc.lock").stdout)
        md5 = next(out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])
                   if out["path"] == file)
        data = json.loads((root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).read_text(encoding="utf-8"))
    return float(data[metric])


def push(root: Path, name: str) -> Optional[bool]:
    """Share a finished trial: its exp ref to the git remote, its data and run cache to the default DVC remote."""
    if git(root, "remote", "get-url", "origin", check=False).returncode != 0:
        return None
    has_dvc_remote = subprocess.run([tool("dvc"), "remote", "default"], cwd=root, capture_output=True,
                                    text=True).stdout.strip() != ""
    command = [tool("dvc"), "exp", "push", "origin", name]
    command += ["--run-cache"] if has_dvc_remote else ["--no-cache"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"sweep: warning: `{' '.join(command[1:])}` failed ({(result.stderr.strip().splitlines() or [''])[-1]}); "
              "the trial is in the study and in this clone: push it by hand", file=sys.stderr)
    return result.returncode == 0

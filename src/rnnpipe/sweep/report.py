"""The training stages' side of a sweep with pruning: each epoch's validation loss goes to the trial, and when
Optuna's median pruner says the curve is behind, the stage stops there: its MLflow run ends FINISHED with the tag
`pruned`, the trial keeps the epoch as user attr `pruned_epoch`, and the exit code is PRUNED_EXIT_CODE, so DVC
commits nothing. Outside a sweep (RNNPIPE_SWEEP_PRUNER unset) this does nothing and Optuna is never imported.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable

STORAGE_URL_ENV = "RNNPIPE_SWEEP_STORAGE_URL"
STUDY_ENV = "RNNPIPE_SWEEP_STUDY"
TRIAL_ID_ENV = "RNNPIPE_SWEEP_TRIAL_ID"
PRUNER_ENV = "RNNPIPE_SWEEP_PRUNER"          # "<startup trials>,<warmup epochs>,<+1 minimize | -1 maximize>"
PRUNED_EXIT_CODE = 75
PRUNED_ATTR = "pruned_epoch"

_trial: Any = None


def with_pruning(on_epoch: Callable[[Any], None]) -> Callable[[Any], None]:
    """A training stage's per-epoch callback (rnnpipe.core.training.fit's on_epoch), followed by the report to the
    sweep trial, which may stop the stage there."""

    def callback(row: Any) -> None:
        on_epoch(row)
        report_epoch(row.epoch, row.val_loss)

    return callback


def report_epoch(epoch: int, val_loss: float) -> None:
    settings = os.environ.get(PRUNER_ENV)
    if not settings:
        return
    startup, warmup, sign = (int(part) for part in settings.split(","))
    trial = _open_trial(startup, warmup)
    trial.report(sign * val_loss if math.isfinite(val_loss) else math.nan, epoch)
    if not trial.should_prune():
        return
    trial.set_user_attr(PRUNED_ATTR, epoch)
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.set_tags({"pruned": str(epoch), "sweep_state": "PRUNED"})
        mlflow.end_run("FINISHED")
    print(f"sweep: trial {trial.number} pruned at epoch {epoch}: its validation curve is behind the median of the "
          "earlier trials", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(PRUNED_EXIT_CODE)


def _open_trial(startup: int, warmup: int) -> Any:
    global _trial
    if _trial is None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)
        study = optuna.load_study(study_name=os.environ[STUDY_ENV], storage=os.environ[STORAGE_URL_ENV],
                                  pruner=pruner, sampler=optuna.samplers.RandomSampler())
        _trial = optuna.trial.Trial(study, int(os.environ[TRIAL_ID_ENV]))
    return _trial

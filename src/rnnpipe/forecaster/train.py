"""Training the forecaster: MSE on shuffled windows, the best validation epoch kept."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from rnnpipe.forecaster.params import ForecasterParams
from rnnpipe.core.determinism import invariant_mean
from rnnpipe.core.threads import LoadAwareThreads
from rnnpipe.core.training import EpochResult, FitResult, fit, make_optimizer, make_scheduler
from rnnpipe.forecaster.model import Forecaster, ForecasterConfig


def train_forecaster(windows: dict[str, torch.Tensor], p: ForecasterParams,
                     on_epoch: Optional[Callable[[EpochResult], None]] = None,
                     show_progress: bool = True, threads: Optional[LoadAwareThreads] = None
                     ) -> tuple[Forecaster, FitResult]:
    """Many-to-one forecaster on windows from rnnpipe.forecaster.windows; MSE loss, shuffled batches."""
    torch.manual_seed(p.seed)
    config = ForecasterConfig(cell=p.cell, hidden_size=p.hidden_size, num_layers=p.num_layers,
                              seq_length=p.seq_length, n_val=len(windows["y_val"]),
                              linear_window=p.linear_window)
    model = Forecaster(config)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    scheduler = make_scheduler(p.lr_schedule, optimizer, p.lr, p.epochs)
    shuffle = torch.Generator().manual_seed(p.seed)
    x_fit, y_fit = windows["x_fit"], windows["y_fit"]

    def epoch_batches(epoch: int) -> list[torch.Tensor]:
        if p.window_stride == 1:
            return list(torch.randperm(len(y_fit), generator=shuffle).split(p.batch_size))
        # Every window_stride-th window from a fresh random offset: neighbouring windows overlap in all but one
        # value, so one epoch sees nearly every target at a fraction of the cost.
        offset = int(torch.randint(p.window_stride, (1,), generator=shuffle))
        chosen = torch.arange(offset, len(y_fit), p.window_stride)
        return list(chosen[torch.randperm(len(chosen), generator=shuffle)].split(p.batch_size))

    # targets_per_window > 1: the last m steps of each window are all scored (step t predicts value t+1, which
    # the window itself holds, or the window's target after the last step). Prediction is still many-to-one:
    # validation, evaluation and forecasts read the last step only.
    m = p.targets_per_window
    next_values = torch.cat([x_fit[:, 1:], y_fit.unsqueeze(1)], dim=1)[:, -m:] if m > 1 else None

    def inputs(idx: torch.Tensor) -> torch.Tensor:
        # input_noise > 0: every batch sees its windows with fresh Gaussian noise added (targets stay as they are),
        # which pushes the model to average over its window, as the best linear filters of this signal do.
        if p.input_noise == 0:
            return x_fit[idx]
        return x_fit[idx] + p.input_noise * torch.randn(len(idx), x_fit.shape[1], generator=shuffle)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        if next_values is None:
            return mse_loss(model(inputs(idx)), y_fit[idx]), len(idx)
        predictions = model.forward_steps(inputs(idx))[:, -m:]
        return mse_loss(predictions, next_values[idx]), len(idx)

    def validate() -> float:
        return mse_loss(model(windows["x_val"]), windows["y_val"]).item()

    result = fit(model, optimizer, epoch_batches, batch_loss, validate, p.epochs, on_epoch=on_epoch,
                 desc="forecaster", show_progress=show_progress, scheduler=scheduler, threads=threads,
                 keep=p.keep)
    model.load_state_dict(result.kept_state)
    return model.eval(), result


def mse_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error whose bits do not depend on the thread count (see rnnpipe.core.determinism)."""
    return invariant_mean((prediction - target) ** 2)


def training_summary(result: FitResult, windows: dict[str, torch.Tensor]) -> dict[str, Any]:
    """metrics/forecaster_train.json: deterministic figures only (no timings)."""
    return {"kept_epoch": result.kept_epoch, "kept_val_mse": result.kept_val_loss,
            "best_epoch": result.best_epoch, "best_val_mse": result.best_val_loss,
            "fit_targets": len(windows["y_fit"]), "val_targets": len(windows["y_val"])}

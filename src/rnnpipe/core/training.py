"""One training loop for every model: progress bar, per-epoch callback, best-on-validation weights; optimizers and
learning-rate schedules by name."""
from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import nn
from tqdm import tqdm

from rnnpipe.core import optim
from rnnpipe.core.errors import TrainingError
from rnnpipe.core.params import Keep, Optimizer, Schedule
from rnnpipe.core.threads import LoadAwareThreads


@dataclass
class EpochResult:
    epoch: int          # 1-based
    train_loss: float   # mean over the epoch's training targets
    val_loss: float
    seconds: float


@dataclass
class FitResult:
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0                    # the epoch with the lowest validation loss
    best_val_loss: float = float("inf")
    kept_epoch: int = 0                    # the epoch whose weights are kept: the best, or the last (keep="last")
    kept_val_loss: float = float("inf")
    kept_state: Optional[dict[str, torch.Tensor]] = None
    targets_seen: int = 0
    seconds: float = 0.0


class WeightAverage:
    """An exponential moving average of a model's trainable weights over the optimizer's steps (Polyak averaging):
    after each step, average += (1 - decay) · (weights - average). The averaged weights sit between the last steps'
    iterates, where the iterates themselves keep jumping around the minimum by the size of a step. Elementwise:
    the same bits at any thread count."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay = {decay!r}: allowed is a number in (0, 1)")
        self.decay = decay
        self.weights = [w for w in model.parameters() if w.requires_grad]
        self.average = [w.detach().clone() for w in self.weights]

    def update(self) -> None:
        with torch.no_grad():
            for average, weights in zip(self.average, self.weights):
                average.lerp_(weights, 1.0 - self.decay)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its trained ones again after it."""
        with torch.no_grad():
            trained = [w.detach().clone() for w in self.weights]
            for weights, average in zip(self.weights, self.average):
                weights.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for weights, saved in zip(self.weights, trained):
                    weights.copy_(saved)


def make_optimizer(name: Optimizer, parameters: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return optim.Adam(parameters, lr=lr)
    if name == "rmsprop":
        return optim.RMSprop(parameters, lr=lr)
    raise ValueError(f"optimizer = {name!r}: allowed is adam or rmsprop")


def make_scheduler(schedule: Schedule, optimizer: torch.optim.Optimizer, lr: float, epochs: int) -> Optional[Any]:
    """Per-epoch learning-rate schedule. cosine: from lr down to lr/20 at the last epoch, so the last epochs
    fine-tune instead of bouncing around the minimum at the full step size."""
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr / 20)
    raise ValueError(f"lr_schedule = {schedule!r}: allowed is constant or cosine")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch_batches: Callable[[int], Iterable[Any]],
    batch_loss: Callable[[Any], tuple[torch.Tensor, int]],
    validate: Callable[[], float],
    epochs: int,
    grad_clip: float = 0.0,
    on_epoch: Optional[Callable[[EpochResult], None]] = None,
    desc: str = "train",
    show_progress: bool = True,
    scheduler: Optional[Any] = None,
    threads: Optional[LoadAwareThreads] = None,
    keep: Keep = "best",
    weight_average: float = 0.0,
) -> FitResult:
    """Train for `epochs` and keep the weights of the epoch with the lowest validation loss (keep="best"), or of
    the last epoch (keep="last": with a learning rate that decays to the end, the last weights are the converged
    ones, and a small validation split picks an epoch by its noise as much as by its quality).

    epoch_batches(epoch) yields the batches of one epoch (it owns shuffling and any state carried between
    batches); batch_loss(batch) returns the mean loss over the batch's targets and their count. threads, when
    given, adapts torch's thread count to the machine's load after each batch; the results stay the same.
    weight_average > 0: validation scores, and the result keeps, the moving average of the weights with that decay
    per step (WeightAverage) instead of the weights as trained; training itself goes on from the trained ones.
    """
    result = FitResult()
    averaged = WeightAverage(model, weight_average) if weight_average else None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        batches = epoch_batches(epoch)
        bar = tqdm(batches, desc=f"{desc} epoch {epoch}/{epochs}", total=_length(batches), leave=False,
                   mininterval=0.5, disable=not show_progress, dynamic_ncols=True)
        for batch in bar:
            batch_start = time.perf_counter()
            loss, n = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if averaged is not None:
                averaged.update()
            total += loss.item() * n
            count += n
            if threads is not None:
                threads.after_batch(time.perf_counter() - batch_start, n)
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        bar.close()
        if scheduler is not None:
            scheduler.step()
        model.eval()
        with averaged.swapped_in() if averaged is not None else nullcontext(), torch.no_grad():
            val_loss = float(validate())
            is_best = val_loss < result.best_val_loss
            if is_best:
                result.best_val_loss, result.best_epoch = val_loss, epoch
            if is_best and keep == "best" or keep == "last" and epoch == epochs and math.isfinite(val_loss):
                result.kept_val_loss, result.kept_epoch = val_loss, epoch
                result.kept_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        row = EpochResult(epoch, total / max(count, 1), val_loss, time.perf_counter() - epoch_start)
        result.history.append(row)
        result.targets_seen += count
        if show_progress:
            tqdm.write(f"{desc} epoch {epoch}/{epochs}: train loss {row.train_loss:.4f}, val loss {val_loss:.4f}"
                       f"{' (best)' if result.best_epoch == epoch else ''}, {row.seconds:.1f}s"
                       f"{f', {threads.current} threads' if threads is not None else ''}")
        if on_epoch is not None:
            on_epoch(row)  # a sweep trial with pruning may stop the stage here (rnnpipe.sweep.report.with_pruning)
    result.seconds = time.perf_counter() - start
    if result.kept_state is None:
        raise TrainingError(f"{desc}: the validation loss was never finite (training diverged); "
                            "lower the learning rate")
    return result


def _length(batches: Iterable[Any]) -> Optional[int]:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def history_frame(history: list[EpochResult], unit: str, scale: float = 1.0) -> "pandas.DataFrame":  # noqa: F821
    """Per-epoch losses as a table for plots/: columns epoch, train_<unit>, val_<unit> (the loss times `scale`).
    No timings: DVC outputs stay deterministic."""
    import pandas as pd

    return pd.DataFrame([{"epoch": r.epoch, f"train_{unit}": r.train_loss * scale, f"val_{unit}": r.val_loss * scale}
                         for r in history])

"""One seeded training loop for every model: progress bar, per-epoch callback, best-on-validation weights."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn
from tqdm import tqdm

from rnnpipe.errors import CorpusError, TrainingError


@dataclass
class EpochResult:
    epoch: int          # 1-based
    train_loss: float   # mean over the epoch's training targets
    val_loss: float
    seconds: float


@dataclass
class FitResult:
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    best_state: Optional[dict[str, torch.Tensor]] = None
    targets_seen: int = 0
    seconds: float = 0.0


def make_optimizer(name: str, parameters: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    raise ValueError(f"optimizer = {name!r}: allowed is adam or rmsprop")


def make_scheduler(schedule: str, optimizer: torch.optim.Optimizer, lr: float, epochs: int) -> Optional[Any]:
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
) -> FitResult:
    """Train for `epochs`, keep the weights of the epoch with the lowest validation loss.

    epoch_batches(epoch) yields the batches of one epoch (it owns shuffling and any state carried between
    batches); batch_loss(batch) returns the mean loss over the batch's targets and their count.
    """
    result = FitResult()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        batches = epoch_batches(epoch)
        bar = tqdm(batches, desc=f"{desc} epoch {epoch}/{epochs}", total=_length(batches), leave=False,
                   mininterval=0.5, disable=not show_progress, dynamic_ncols=True)
        for batch in bar:
            loss, n = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            total += loss.item() * n
            count += n
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        bar.close()
        if scheduler is not None:
            scheduler.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(validate())
        row = EpochResult(epoch, total / max(count, 1), val_loss, time.perf_counter() - epoch_start)
        result.history.append(row)
        result.targets_seen += count
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_loss, epoch
            result.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if show_progress:
            tqdm.write(f"{desc} epoch {epoch}/{epochs}: train loss {row.train_loss:.4f}, val loss {val_loss:.4f}"
                       f"{' (best)' if result.best_epoch == epoch else ''}, {row.seconds:.1f}s")
        if on_epoch is not None:
            on_epoch(row)
    result.seconds = time.perf_counter() - start
    if result.best_state is None:
        raise TrainingError(f"{desc}: the validation loss was never finite (training diverged); "
                            "lower the learning rate")
    return result


def _length(batches: Iterable[Any]) -> Optional[int]:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


# --- the forecaster ---------------------------------------------------------------------------------------------

def train_forecaster(windows: dict[str, torch.Tensor], p: Any, on_epoch: Optional[Callable[[EpochResult], None]] = None,
                     show_progress: bool = True) -> tuple[nn.Module, FitResult]:
    """Many-to-one forecaster on windows from rnnpipe.series.forecaster_windows; MSE loss, shuffled batches."""
    from rnnpipe.models import Forecaster

    torch.manual_seed(p.seed)
    model = Forecaster(cell=p.cell, hidden_size=p.hidden_size, num_layers=p.num_layers)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    scheduler = make_scheduler(p.lr_schedule, optimizer, p.lr, p.epochs)
    shuffle = torch.Generator().manual_seed(p.seed)
    x_fit, y_fit = windows["x_fit"], windows["y_fit"]

    def epoch_batches(epoch: int) -> list[torch.Tensor]:
        return list(torch.randperm(len(y_fit), generator=shuffle).split(p.batch_size))

    # targets_per_window > 1: the last m steps of each window are all scored (step t predicts value t+1, which
    # the window itself holds, or the window's target after the last step). Prediction is still many-to-one:
    # validation, evaluation and forecasts read the last step only.
    m = p.targets_per_window
    next_values = torch.cat([x_fit[:, 1:], y_fit.unsqueeze(1)], dim=1)[:, -m:] if m > 1 else None

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        if next_values is None:
            return nn.functional.mse_loss(model(x_fit[idx]), y_fit[idx]), len(idx)
        predictions = model.forward_steps(x_fit[idx])[:, -m:]
        return nn.functional.mse_loss(predictions, next_values[idx]), len(idx)

    def validate() -> float:
        return nn.functional.mse_loss(model(windows["x_val"]), windows["y_val"]).item()

    result = fit(model, optimizer, epoch_batches, batch_loss, validate, p.epochs, on_epoch=on_epoch,
                 desc="forecaster", show_progress=show_progress, scheduler=scheduler)
    model.load_state_dict(result.best_state)
    return model.eval(), result


# --- the char-RNN -----------------------------------------------------------------------------------------------

def tbptt_batches(ids: torch.Tensor, batch_size: int, seq_length: int, offset: int = 0
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut the corpus into batch_size parallel streams and those into seq_length chunks (views, no copies).

    Row b of consecutive chunks continues the same text, so the recurrent state can be carried across batches.
    """
    n = (len(ids) - 1 - offset) // batch_size
    if n < 1:
        raise ValueError(f"{len(ids)} characters cannot fill {batch_size} streams: use a smaller batch_size")
    inputs = ids[offset:offset + n * batch_size].view(batch_size, n)
    targets = ids[offset + 1:offset + 1 + n * batch_size].view(batch_size, n)
    return [(inputs[:, i:i + seq_length], targets[:, i:i + seq_length]) for i in range(0, n, seq_length)]


def window_starts(n_ids: int, seq_length: int) -> int:
    """How many (seq_length previous chars → next char) windows a text of n_ids characters holds."""
    return max(0, n_ids - seq_length)


def window_batch(ids: torch.Tensor, starts: torch.Tensor, seq_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather windows by tensor indexing: inputs [B, seq_length], targets [B]."""
    return ids[starts.unsqueeze(1) + torch.arange(seq_length)], ids[starts + seq_length]


def check_trainable(n_train: int, n_val: int, p: Any) -> None:
    """A corpus too short for one batch of training windows is a user error, reported before any training."""
    needed = p.seq_length + (p.batch_size if p.mode == "many_to_many" else 1) + 1
    if n_train < needed:
        raise CorpusError(f"the corpus training split has {n_train} characters: charrnn.seq_length = "
                          f"{p.seq_length} and batch_size = {p.batch_size} need at least {needed} "
                          "(use a longer text or smaller values)")
    if n_val < 1:
        raise CorpusError("the corpus validation split is empty: use a longer text or a larger "
                          "corpus.val_fraction")


def train_charrnn(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, p: Any,
                  on_epoch: Optional[Callable[[EpochResult], None]] = None,
                  show_progress: bool = True) -> tuple[nn.Module, FitResult]:
    """Char-RNN trained many-to-many (truncated BPTT, state carried) or many-to-one (the course's windows)."""
    from rnnpipe.evaluate import char_losses
    from rnnpipe.models import CharRNN, detach_state

    torch.manual_seed(p.seed)
    model = CharRNN(vocab_size, hidden_size=p.hidden_size, num_layers=p.num_layers, cell=p.cell, input=p.input,
                    embedding_dim=p.embedding_dim, dropout=p.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    scheduler = make_scheduler(p.lr_schedule, optimizer, p.lr, p.epochs)
    order = torch.Generator().manual_seed(p.seed)
    many_to_many = p.mode == "many_to_many"
    carried: dict[str, Any] = {"state": None}
    check_trainable(len(train_ids), len(val_ids), p)
    n_windows = window_starts(len(train_ids), p.seq_length)

    def epoch_batches(epoch: int) -> list[Any]:
        if many_to_many:
            carried["state"] = None
            # A fresh chunk phase each epoch, so chunk boundaries fall in different places.
            offset = int(torch.randint(p.seq_length, (1,), generator=order)) if epoch > 1 else 0
            return tbptt_batches(train_ids, p.batch_size, p.seq_length, offset)
        return list(torch.randperm(n_windows, generator=order).split(p.batch_size))

    def batch_loss(batch: Any) -> tuple[torch.Tensor, int]:
        if many_to_many:
            inputs, targets = batch
            logits, state = model(inputs, carried["state"])
            carried["state"] = detach_state(state)
            return nn.functional.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1)), targets.numel()
        inputs, targets = window_batch(train_ids, batch, p.seq_length)
        logits, _ = model(inputs)
        return nn.functional.cross_entropy(logits[:, -1], targets), len(targets)

    def validate() -> float:
        # Validation text follows the training text: its first characters get their context from there.
        context = train_ids[-p.seq_length:] if not many_to_many else train_ids[-200:]
        losses, _ = char_losses(model, context, val_ids, p.mode, p.seq_length)
        return losses.mean().item()

    result = fit(model, optimizer, epoch_batches, batch_loss, validate, p.epochs, grad_clip=p.grad_clip,
                 on_epoch=on_epoch, desc="charrnn", show_progress=show_progress, scheduler=scheduler)
    model.load_state_dict(result.best_state)
    return model.eval(), result

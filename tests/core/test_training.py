"""Tests for the shared training loop (rnnpipe.core.training): best-epoch weights, clipping, optimizers, schedules."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnpipe.core.training import WeightAverage, fit, make_optimizer, make_scheduler

torch.set_num_threads(1)


def test_make_optimizer_builds_adam_and_rmsprop_with_the_lr():
    parameters = [nn.Parameter(torch.zeros(2))]
    adam = make_optimizer("adam", parameters, 0.01)
    rmsprop = make_optimizer("rmsprop", parameters, 0.002)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 0.01
    assert isinstance(rmsprop, torch.optim.RMSprop) and rmsprop.param_groups[0]["lr"] == 0.002
    with pytest.raises(ValueError, match="sgd"):
        make_optimizer("sgd", parameters, 0.1)


def test_fit_keeps_the_best_validation_weights_and_epoch():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    planned_val = iter([3.0, 1.0, 2.0, 1.5])
    # each batch: (loss value, target count); the loss has a real gradient so every step moves the weights
    batches = [(2.0, 1), (4.0, 3)]
    snapshots = []

    def batch_loss(batch):
        value, n = batch
        out = model(torch.ones(1, 2)).sum()
        return out - out.detach() + value, n

    result = fit(model, optimizer, lambda epoch: batches, batch_loss, lambda: next(planned_val), epochs=4,
                 on_epoch=lambda row: snapshots.append({k: v.clone() for k, v in model.state_dict().items()}),
                 show_progress=False)
    assert result.best_epoch == 2 and result.best_val_loss == 1.0
    assert [row.epoch for row in result.history] == [1, 2, 3, 4]
    assert [row.val_loss for row in result.history] == [3.0, 1.0, 2.0, 1.5]
    assert all(row.train_loss == pytest.approx(3.5) for row in result.history)  # (2*1 + 4*3) / 4
    assert result.targets_seen == 16
    for name, value in result.kept_state.items():
        assert torch.equal(value, snapshots[1][name])
        assert not torch.equal(value, model.state_dict()[name])  # a copy, not the live (later) weights


def test_fit_clips_gradients_and_steps_the_scheduler():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    def batch_loss(_):
        return model(torch.tensor([[100.0]])).sum(), 1  # gradient 100, clipped to norm 1

    fit(model, optimizer, lambda epoch: [None], batch_loss, lambda: 0.0, epochs=2, grad_clip=1.0,
        scheduler=scheduler, show_progress=False)
    # epoch 1: w -= 1.0 * 1; epoch 2: w -= 0.5 * 1
    assert model.weight.item() == pytest.approx(-1.5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)


def test_make_scheduler_cosine_ends_at_a_twentieth_of_the_lr_and_constant_is_none():
    model = nn.Linear(1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    assert make_scheduler("constant", optimizer, 0.02, 4) is None
    scheduler = make_scheduler("cosine", optimizer, 0.02, 4)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: a no-op, but the scheduler expects a step before its own
        scheduler.step()
    assert rates[0] == pytest.approx(0.02) and rates == sorted(rates, reverse=True)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    with pytest.raises(ValueError, match="lr_schedule = 'step'"):
        make_scheduler("step", optimizer, 0.02, 4)


def test_fit_can_keep_the_last_epoch_and_still_reports_the_best():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    planned_val = iter([3.0, 1.0, 2.0, 1.5])
    snapshots = []

    def batch_loss(batch):
        out = model(torch.ones(1, 2)).sum()
        return out - out.detach() + 1.0, 1

    result = fit(model, optimizer, lambda epoch: [None], batch_loss, lambda: next(planned_val), epochs=4,
                 on_epoch=lambda row: snapshots.append({k: v.clone() for k, v in model.state_dict().items()}),
                 show_progress=False, keep="last")
    assert (result.best_epoch, result.best_val_loss) == (2, 1.0)
    assert (result.kept_epoch, result.kept_val_loss) == (4, 1.5)
    assert all(torch.equal(value, snapshots[3][name]) for name, value in result.kept_state.items())


def test_weight_average_is_the_moving_average_of_the_steps_and_is_what_validation_sees_and_fit_keeps():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    start = [w.detach().clone() for w in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    decay = 0.75
    expected = [w.clone() for w in start]
    seen_by_validation = []

    def batch_loss(batch):
        return (model(batch) ** 2).mean(), 1

    def after_step(*_):
        for average, w in zip(expected, model.parameters()):
            average.mul_(decay).add_(w.detach(), alpha=1 - decay)

    optimizer.register_step_post_hook(after_step)
    batches = [torch.randn(4, 3) for _ in range(3)]

    def validate():
        seen_by_validation.append([w.detach().clone() for w in model.parameters()])
        return -float(len(seen_by_validation))  # every epoch is the best so far: the last one is kept

    result = fit(model, optimizer, lambda epoch: batches, batch_loss, validate, epochs=2, show_progress=False,
                 weight_average=decay)
    trained = [w.detach().clone() for w in model.parameters()]
    for average, seen, kept in zip(expected, seen_by_validation[-1], (result.kept_state["weight"],
                                                                     result.kept_state["bias"])):
        torch.testing.assert_close(seen, average, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(kept, average, rtol=1e-6, atol=1e-7)
    # the model goes on with its trained weights: not the average, not the start
    assert all(not torch.equal(t, a) for t, a in zip(trained, seen_by_validation[-1]))
    assert all(not torch.equal(t, s) for t, s in zip(trained, start))


def test_weight_average_rejects_a_decay_outside_0_1():
    for decay in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=f"decay = {decay!r}: allowed is a number in \\(0, 1\\)"):
            WeightAverage(nn.Linear(1, 1), decay)

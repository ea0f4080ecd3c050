"""Tests for forecaster training (rnnpipe.forecaster.train): deterministic, improving, many-to-one at the end."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnpipe.forecaster.params import ForecasterParams
from rnnpipe.forecaster.train import train_forecaster
from rnnpipe.forecaster.windows import forecaster_windows

torch.set_num_threads(1)


def forecaster_params(**overrides) -> ForecasterParams:
    values = dict(seq_length=6, targets_per_window=1, window_stride=1, input_noise=0.0, keep="best", cell="gru",
                  hidden_size=8, num_layers=1, linear_window=0, optimizer="adam", lr=0.02, lr_schedule="constant",
                  batch_size=16, epochs=3, val_fraction=0.2, seed=0)
    values.update(overrides)
    return ForecasterParams(**values)


@pytest.fixture(scope="module")
def sine_windows() -> dict[str, torch.Tensor]:
    y = np.sin(np.linspace(0, 12 * np.pi, 300))
    return forecaster_windows(y, n_train=240, seq_length=6, n_val=40)


def state_dicts_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_train_forecaster_is_bit_for_bit_deterministic_for_a_seed(sine_windows):
    first, r1 = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    second, r2 = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    other, _ = train_forecaster(sine_windows, forecaster_params(seed=1), show_progress=False)
    assert state_dicts_equal(first, second)
    assert [(h.train_loss, h.val_loss) for h in r1.history] == [(h.train_loss, h.val_loss) for h in r2.history]
    assert not state_dicts_equal(first, other)


def test_train_forecaster_lowers_the_loss_and_returns_the_best_weights(sine_windows):
    rows = []
    model, result = train_forecaster(sine_windows, forecaster_params(), on_epoch=rows.append, show_progress=False)
    assert [r.epoch for r in rows] == [1, 2, 3] and rows == result.history
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.best_val_loss < result.history[0].val_loss
    assert result.targets_seen == 3 * len(sine_windows["y_fit"])
    assert not model.training
    assert all(torch.equal(v, result.kept_state[k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        val = nn.functional.mse_loss(model(sine_windows["x_val"]), sine_windows["y_val"]).item()
    assert val == pytest.approx(result.best_val_loss, rel=1e-5)


def test_train_forecaster_scoring_several_steps_per_window_trains_differently_but_predicts_many_to_one(
        sine_windows):
    last, _ = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    steps, result = train_forecaster(sine_windows, forecaster_params(targets_per_window=6), show_progress=False)
    again, _ = train_forecaster(sine_windows, forecaster_params(targets_per_window=6), show_progress=False)
    assert not state_dicts_equal(last, steps) and state_dicts_equal(steps, again)
    with torch.no_grad():  # validation is still the last step's MSE against the window's next value
        val = nn.functional.mse_loss(steps(sine_windows["x_val"]), sine_windows["y_val"]).item()
    assert val == pytest.approx(result.best_val_loss, rel=1e-5)
    assert result.history[-1].train_loss < result.history[0].train_loss


def test_train_forecaster_cosine_schedule_changes_the_training(sine_windows):
    constant, _ = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    cosine, _ = train_forecaster(sine_windows, forecaster_params(lr_schedule="cosine"), show_progress=False)
    assert not state_dicts_equal(constant, cosine)


def test_a_window_stride_trains_on_every_sth_window_from_a_seeded_offset(sine_windows):
    full, full_result = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    strided, result = train_forecaster(sine_windows, forecaster_params(window_stride=4), show_progress=False)
    again, _ = train_forecaster(sine_windows, forecaster_params(window_stride=4), show_progress=False)
    n_fit = len(sine_windows["y_fit"])
    assert state_dicts_equal(strided, again) and not state_dicts_equal(full, strided)
    assert full_result.targets_seen == 3 * n_fit
    assert 3 * (n_fit // 4) <= result.targets_seen <= 3 * (n_fit // 4 + 1)


def test_input_noise_changes_the_training_but_not_what_is_validated(sine_windows):
    plain, _ = train_forecaster(sine_windows, forecaster_params(), show_progress=False)
    noisy, result = train_forecaster(sine_windows, forecaster_params(input_noise=0.1), show_progress=False)
    again, _ = train_forecaster(sine_windows, forecaster_params(input_noise=0.1), show_progress=False)
    assert state_dicts_equal(noisy, again) and not state_dicts_equal(plain, noisy)
    with torch.no_grad():  # validation reads the clean windows
        val = nn.functional.mse_loss(noisy(sine_windows["x_val"]), sine_windows["y_val"]).item()
    assert val == pytest.approx(result.best_val_loss, rel=1e-5)


def test_a_linear_path_is_trained_with_the_rnn_and_scored_on_full_windows_only(sine_windows):
    p = forecaster_params(linear_window=3, targets_per_window=4)
    linear, result = train_forecaster(sine_windows, p, show_progress=False)
    again, _ = train_forecaster(sine_windows, p, show_progress=False)
    assert state_dicts_equal(linear, again) and linear.config.linear_window == 3
    assert linear.linear.weight.abs().sum() > 0  # it started at zero and the data moved it
    assert result.history[-1].train_loss < result.history[0].train_loss
    with torch.no_grad():
        val = nn.functional.mse_loss(linear(sine_windows["x_val"]), sine_windows["y_val"]).item()
    assert val == pytest.approx(result.best_val_loss, rel=1e-5)

"""The project's dropout: torch's semantics (keep with probability 1 - p, scale by 1 / (1 - p)) from cheaper masks,
seeded by torch.manual_seed, with the same bits at any thread count."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnpipe.core.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.15, 0.5, 0.9])
def test_the_kept_share_is_one_minus_p(p):
    torch.manual_seed(0)
    kept = keep_mask((1000, 1000), p).double().mean().item()
    assert abs(kept - (1 - p)) < 5 * (p * (1 - p) / 1e6) ** 0.5  # 5 standard deviations


def test_kept_values_are_scaled_and_dropped_ones_are_zero_and_gradients_follow_the_mask():
    torch.manual_seed(1)
    x = torch.randn(32, 50, 64, requires_grad=True)
    y = dropout(x, 0.25, training=True)
    kept = y != 0
    scale = torch.tensor(1.0).div(0.75)  # float32, as torch's own dropout scales
    assert torch.equal(y[kept], x[kept] * scale) and 0.7 < kept.float().mean() < 0.8
    y.sum().backward()
    assert torch.equal(x.grad, kept.float() * scale)


def test_the_same_seed_gives_the_same_mask_at_any_thread_count_and_a_new_draw_another():
    threads = torch.get_num_threads()
    try:
        masks = []
        for count in (1, 2):
            torch.set_num_threads(count)
            torch.manual_seed(7)
            masks.append(keep_mask((3, 1001), 0.3))  # an element count no multiple of 4
        assert torch.equal(masks[0], masks[1]) and masks[0].shape == (3, 1001)
        assert not torch.equal(keep_mask((3, 1001), 0.3), masks[1])
    finally:
        torch.set_num_threads(threads)


def test_outside_training_or_at_zero_it_is_the_identity_and_it_is_an_nn_dropout():
    x = torch.randn(4, 5)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0, training=True) is x
    module = Dropout(0.5).eval()
    assert isinstance(module, nn.Dropout) and module(x) is x and module.state_dict() == {}


def test_a_p_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match=r"p = 1.0.*\[0, 1\)"):
        dropout(torch.ones(3), 1.0, training=True)

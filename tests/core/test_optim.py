"""rnnpipe.core.optim: torch's optimizers without their compile hooks give the stock optimizers' bits and never load
torch._dynamo."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from rnnpipe.core import optim

CASES = [
    (optim.Adam, torch.optim.Adam, {"lr": 0.01}),
    (optim.Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.9, 0.95), "fused": True}),
    (optim.AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1, "fused": True}),
    (optim.RMSprop, torch.optim.RMSprop, {"lr": 0.005}),
]


def train(optimizer_class, kwargs: dict, steps: int = 6) -> tuple[list[torch.Tensor], dict]:
    """A small LSTM trained for `steps` with a cosine schedule and gradient clipping: its weights and the optimizer's
    state."""
    torch.manual_seed(3)
    model = nn.LSTM(3, 5)
    optimizer = optimizer_class(model.parameters(), **kwargs)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.001)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        model(torch.randn(7, 2, 3))[0].pow(2).mean().backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        scheduler.step()
    return [p.detach().clone() for p in model.parameters()], optimizer.state_dict()


@pytest.mark.parametrize("eager,stock,kwargs", CASES, ids=["adam", "adam-fused", "adamw-fused", "rmsprop"])
def test_each_update_is_the_stock_optimizers_bits(eager, stock, kwargs):
    weights, state = train(eager, kwargs)
    stock_weights, stock_state = train(stock, kwargs)
    assert all(torch.equal(a, b) for a, b in zip(weights, stock_weights))
    assert state["param_groups"] == stock_state["param_groups"]
    for key, moments in state["state"].items():
        assert moments.keys() == stock_state["state"][key].keys()
        assert all(torch.equal(moments[name], stock_state["state"][key][name]) for name in moments)


def test_they_are_the_stock_classes_to_isinstance_and_refuse_a_differentiable_step():
    assert issubclass(optim.AdamW, torch.optim.AdamW) and optim.Adam.__name__ == "Adam"
    parameter = nn.Parameter(torch.ones(2))
    optimizer = optim.Adam([parameter], lr=0.1, differentiable=True)
    parameter.grad = torch.ones(2)
    with pytest.raises(ValueError, match="differentiable"):
        optimizer.step()


def test_training_never_imports_the_compiler():
    """The reason the module exists: the stock optimizers import torch._dynamo (~0.9 s) on their first call."""
    code = textwrap.dedent("""
        import sys, torch
        from torch import nn
        from rnnpipe.core import optim
        model = nn.LSTM(3, 4)
        for cls, kwargs in ((optim.Adam, {"fused": True}), (optim.AdamW, {"fused": True}), (optim.RMSprop, {})):
            optimizer = cls(model.parameters(), lr=0.01, **kwargs)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3)
            for _ in range(2):
                optimizer.zero_grad()
                model(torch.randn(5, 2, 3))[0].sum().backward()
                optimizer.step()
                scheduler.step()
        print("torch._dynamo" in sys.modules)
        torch.optim.Adam(model.parameters(), lr=0.01).zero_grad()
        print("torch._dynamo" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]  # the stock optimizer does import it: the check can fail

"""torch's optimizers without their torch.compile hooks.

torch wraps Optimizer.add_param_group, zero_grad and every optimizer's step so that their first call imports
torch._dynamo, the compiler: about 0.9 s of every training process (as long as importing torch itself), for code
that never compiles. The classes here run torch's own functions under those wrappers (inspect.unwrap), in the same
grad mode the step wrapper sets, so each update is the same bits as the stock optimizer's; they are subclasses of
it, so schedulers and isinstance checks take them as they are.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, TypeVar

import torch

Stock = TypeVar("Stock", bound=type[torch.optim.Optimizer])


def eager(stock: Stock) -> Stock:
    """A subclass of the optimizer class `stock` whose add_param_group, zero_grad and step skip torch's compile hooks
    (the hooks of torch's step profiler and of a learning-rate scheduler still run)."""
    add_param_group = inspect.unwrap(stock.add_param_group)
    zero_grad = inspect.unwrap(stock.zero_grad)
    step = inspect.unwrap(stock.step)

    class Eager(stock):  # type: ignore[valid-type,misc]
        def add_param_group(self, param_group: dict[str, Any]) -> None:
            add_param_group(self, param_group)

        def zero_grad(self, set_to_none: bool = True) -> None:
            zero_grad(self, set_to_none)

        def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:
            if self.defaults.get("differentiable"):
                raise ValueError("differentiable optimizers need torch's own step: use the stock class")
            with torch.no_grad():  # what torch's step wrapper sets for a non-differentiable optimizer
                return step(self, closure)

    Eager.__name__ = Eager.__qualname__ = stock.__name__
    Eager.__module__ = __name__
    return Eager  # type: ignore[return-value]


Adam = eager(torch.optim.Adam)
AdamW = eager(torch.optim.AdamW)
RMSprop = eager(torch.optim.RMSprop)

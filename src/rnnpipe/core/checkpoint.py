"""Typed model configs, and the checkpoints that carry them (nanoGPT's GPTConfig pattern).

A model's constructor takes its config, the checkpoint stores it, and loading rebuilds the model from it, through
the same strict validation as params.yaml. On disk a config is plain data that `torch.load(weights_only=True)`
accepts: `{"kind": ..., "arch": {what the constructor needs}, ...what using the model needs}`.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from rnnpipe.core.errors import CheckpointError, first_line, restore_hint
from rnnpipe.core.io import load_checkpoint, save_checkpoint
from rnnpipe.core.params import MAX_MODEL_NUMBERS, error_message

if TYPE_CHECKING:
    from torch import nn


class ModelConfig(BaseModel):
    """Base of the per-model configs: `kind` names the model, `ARCH` the fields stored under "arch"."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    kind: ClassVar[str]
    ARCH: ClassVar[tuple[str, ...]]

    def to_checkpoint(self) -> dict[str, Any]:
        values = self.model_dump()
        arch = {name: values.pop(name) for name in self.ARCH}
        return {"kind": self.kind, "arch": arch, **values}

    @classmethod
    def from_checkpoint(cls, raw: dict[str, Any]) -> "ModelConfig":
        arch = raw.get("arch")
        flat = {**(arch if isinstance(arch, dict) else {}), **{k: v for k, v in raw.items() if k not in ("kind", "arch")}}
        return cls.model_validate(flat)


Config = TypeVar("Config", bound=ModelConfig)


def save_model(path: str | Path, config: ModelConfig, model: "nn.Module") -> None:
    save_checkpoint(path, config.to_checkpoint(), model.state_dict())


# A checkpoint is a small file that can ask for any size (hidden_size 50000 is a ~40 GB LSTM): its config is
# built on the meta device and refused above params.MAX_MODEL_NUMBERS before any memory is spent on it.


def load_model(path: str | Path, config_type: type[Config], build: Callable[[Config], "nn.Module"]
               ) -> tuple[Config, "nn.Module"]:
    """Checkpoint → (typed config, model in eval mode), with its meaning checked: the kind of model, its config
    (the same validation as params.yaml), its size, every weight's name, shape and dtype against the model the
    config builds, every weight finite. The model is built on the meta device (no memory) for those checks and
    materialised only after them. Loaded with weights_only, so no pickled code runs. Every failure is one line
    naming the file, what is wrong and what to do."""
    remedy = restore_hint(path, f"train_{config_type.kind}")
    try:
        raw, state = load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {remedy}") from None
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind != config_type.kind:
        raise CheckpointError(f"checkpoint {path} holds a {kind!r} model, not a {config_type.kind!r} one (the two "
                              f"models' files were mixed up?); {remedy}")
    try:
        config = config_type.from_checkpoint(raw)
    except ValidationError as exc:
        raise CheckpointError(f"{error_message(config_type, exc.errors()[0], f'checkpoint {path}: config')}; "
                              f"{remedy}") from None
    try:
        skeleton = meta_model(build, config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path}: its config builds no model ({first_line(exc)[:160]}); "
                              f"{remedy}") from None
    expected = skeleton.state_dict()
    numbers = sum(tensor.numel() for tensor in expected.values())
    if numbers > MAX_MODEL_NUMBERS:
        raise CheckpointError(f"checkpoint {path}: its config asks for a model of {numbers:,} numbers "
                              f"({numbers * 4 / 2**30:,.1f} GiB in float32): allowed are at most "
                              f"{MAX_MODEL_NUMBERS:,}; {remedy}")
    problem = weights_problem(expected, state)
    if problem is not None:
        raise CheckpointError(f"checkpoint {path}: the weights do not match its config ({problem}); {remedy}")
    # Fresh memory and a copy, as a model built on the CPU gets: the weights then sit in memory exactly as they did
    # before the meta-device checks existed, so the outputs computed from them keep their bits.
    model = materialised(skeleton)
    model.load_state_dict(state)
    return config, model.eval()


def meta_model(build: Callable[[Config], "nn.Module"], config: Config) -> "nn.Module":
    """The model `config` builds, on the meta device: every weight's name, shape and dtype, no memory, no values."""
    import torch

    with torch.device("meta"), meta_shortcuts():
        return build(config)


def materialised(skeleton: "nn.Module") -> "nn.Module":
    """`skeleton` (on the meta device) with its weights in fresh, uninitialised CPU memory: Module.to_empty."""
    with meta_shortcuts():
        return skeleton.to_empty(device="cpu")


# Value fills a model's init may call: a meta tensor has no values to fill.
VALUE_FILLS = ("normal_", "uniform_", "trunc_normal_")


@functools.cache
def _shortcuts_mode() -> type:
    from torch.overrides import TorchFunctionMode

    class MetaShortcuts(TorchFunctionMode):
        """torch computes some functions of a meta tensor through Python references whose first call imports a part
        of its compiler: normal_ torch._dynamo (~0.9 s), empty_like its symbolic shapes (~0.25 s). Here a value
        fill of a meta tensor does nothing (it has no values) and empty_like(meta tensor, device=D) is torch.empty of
        its shape and dtype on D (the same fresh memory); every other call is torch's own."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            import torch

            kwargs = kwargs or {}
            tensor = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes it by name
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                name = getattr(func, "__name__", None)
                if name in VALUE_FILLS:
                    return tensor
                if name == "empty_like" and len(args) == 1 and set(kwargs) == {"device"} and \
                        torch.device(kwargs["device"]).type != "meta" and tensor.is_contiguous():
                    return torch.empty(tensor.shape, dtype=tensor.dtype, device=kwargs["device"])
            return func(*args, **kwargs)

    return MetaShortcuts


def meta_shortcuts() -> Any:
    return _shortcuts_mode()()


def weights_problem(expected: dict[str, Any], state: Any) -> str | None:
    """What is wrong with `state` for a model whose state_dict is `expected` (meta tensors), in a few words, or
    None: a missing or unexpected name, a shape or dtype the model does not have, a value that is not finite."""
    import torch

    if not isinstance(state, dict):
        return f"the weights are a {type(state).__name__}, not a mapping of names to tensors"
    missing = [name for name in expected if name not in state]
    if missing:
        return f"{missing[0]} is missing" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    unexpected = [name for name in state if name not in expected]
    if unexpected:
        return f"{unexpected[0]!s:.80} is not a weight of this model"
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor):
            return f"{name} is a {type(got).__name__}, not a tensor"
        if got.shape != want.shape or got.dtype != want.dtype:
            return (f"{name} is {list(got.shape)} {str(got.dtype).removeprefix('torch.')}, the config makes "
                    f"{list(want.shape)} {str(want.dtype).removeprefix('torch.')}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            return f"{name} holds values that are not finite (NaN or inf)"
    return None

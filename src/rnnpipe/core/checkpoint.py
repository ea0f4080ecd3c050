"""Typed model configs, and the checkpoints that carry them (nanoGPT's GPTConfig pattern).

A model's constructor takes its config, the checkpoint stores it, and loading rebuilds the model from it, through
the same strict validation as params.yaml. On disk a config is plain data that `torch.load(weights_only=True)`
accepts: `{"kind": ..., "arch": {what the constructor needs}, ...what using the model needs}`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from rnnpipe.core.errors import CheckpointError, first_line
from rnnpipe.core.io import load_checkpoint, save_checkpoint
from rnnpipe.core.params import error_message

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


def load_model(path: str | Path, config_type: type[Config], build: Callable[[Config], "nn.Module"]
               ) -> tuple[Config, "nn.Module"]:
    """Checkpoint → (typed config, model in eval mode), with its meaning checked: the kind of model, its config
    (the same validation as params.yaml), the weights' shapes against the config. Loaded with weights_only, so no
    pickled code runs. Every failure is one line naming the file, what is wrong and what to do."""
    remedy = (f"restore it with `dvc checkout {path}`, or rebuild it with "
              f"`dvc repro -f -s train_{config_type.kind}`")
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
        model = build(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path}: the weights do not match its config ({first_line(exc)[:160]}); "
                              f"{remedy}") from None
    return config, model.eval()

"""What the shared code needs to know about a model, given by the model's own package (`<model>/descriptor.py`).

Tracking and the registry read a descriptor instead of naming models: the experiment a training run lands in, the
metric its registered versions are ranked by, and the columns of the runs table a newcomer sees first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ModelDescriptor:
    kind: str                           # the model's name in commands and messages (`promote charrnn 7`)
    experiment: str                     # the MLflow experiment, and the registered model, of its training runs
    ranking_metric: str                 # the test metric each evaluated version is tagged with and ranked by
    lower_is_better: bool
    headline_metrics: tuple[str, ...]   # the runs table's metric columns, sorted by the first
    headline_params: tuple[str, ...]    # and its params columns (`section.key`)
    # The training's arithmetic cost for the whole params (FLOPs per training character, all epochs): what a sweep's
    # cost constraint compares between trials. None: the model has no such figure.
    training_cost: Optional[Callable[[Any], float]] = None

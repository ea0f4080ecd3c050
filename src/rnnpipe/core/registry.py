"""Model registry: every evaluated version carries its test metric; the best one is @champion.

Each training registers a new version of rnnpipe-forecaster / rnnpipe-charrnn (rnnpipe.core.tracking). Its
evaluation stage then calls `promote`: the version is tagged with its test metric, the digest of the data it was
evaluated on, its DVC experiment name and commit, and it takes the `champion` alias when there is none yet, or
when it beats the champion on the same data. A champion evaluated on other data is never compared (another test
split or corpus makes the numbers incomparable): the version stays a candidate and the line printed says so.
Running it again changes nothing, so it is safe in a pipeline that DVC may rerun.

    python -m rnnpipe.core.registry                  # the champion of each model, and each version's figures
    python -m rnnpipe.core.registry promote charrnn 7   # make version 7 the champion by hand
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

from rnnpipe.core.errors import TrackingError, first_line

CHAMPION = "champion"
# The metric each model is ranked by: its name on the version, and whether lower is better.
RANKING = {"forecaster": ("test_mse", True), "charrnn": ("test_bits_per_char", True)}
DATA_TAG = "eval_data_md5"


@dataclass(frozen=True)
class Promotion:
    version: str
    champion: Optional[str]   # the champion after the call
    promoted: bool
    reason: str

    def line(self, name: str) -> str:
        return f"registry: {name} version {self.version} {self.reason}"


def promote(client: Any, name: str, kind: str, run_id: str, value: float, data_md5: str,
            extra_tags: Optional[dict[str, str]] = None) -> Optional[Promotion]:
    """Tag the version that run_id registered and make it champion if it beats the champion on the same data."""
    metric, lower_is_better = RANKING[kind]
    versions = [v for v in client.search_model_versions(f"name='{name}'") if v.run_id == run_id]
    if not versions:
        return None  # the run registered nothing (e.g. restored from DVC's run cache without a training run)
    version = max(versions, key=lambda v: int(v.version))
    tags = {metric: repr(float(value)), DATA_TAG: data_md5, **(extra_tags or {})}
    for key, tag_value in tags.items():
        client.set_model_version_tag(name, version.version, key, tag_value)
    champion = current_champion(client, name)
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, version.version)
        return Promotion(version.version, version.version, True, f"is the first evaluated: now @{CHAMPION} "
                                                                   f"({metric} {value:.5g})")
    if champion.version == version.version:
        return Promotion(version.version, champion.version, False, f"is @{CHAMPION} ({metric} {value:.5g})")
    if champion.tags.get(DATA_TAG) != data_md5 or metric not in champion.tags:
        return Promotion(version.version, champion.version, False,
                         f"({metric} {value:.5g}) was evaluated on other data than @{CHAMPION} version "
                         f"{champion.version}: not compared (promote by hand: python -m rnnpipe.core.registry "
                         f"promote {kind} {version.version})")
    best = float(champion.tags[metric])
    better = value < best if lower_is_better else value > best
    if better:
        client.set_registered_model_alias(name, CHAMPION, version.version)
        return Promotion(version.version, version.version, True,
                         f"beats version {champion.version} ({metric} {value:.5g} vs {best:.5g}): now @{CHAMPION}")
    return Promotion(version.version, champion.version, False,
                     f"({metric} {value:.5g}) does not beat @{CHAMPION} version {champion.version} ({best:.5g})")


def current_champion(client: Any, name: str) -> Optional[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None  # no alias yet (or no registered model)


def summary(client: Any, name: str, kind: str) -> list[str]:
    metric, _ = RANKING[kind]
    champion = current_champion(client, name)
    lines = [f"{name}: @{CHAMPION} is version {champion.version}" if champion else f"{name}: no @{CHAMPION} yet"]
    for v in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        lines.append(f"  version {v.version:>3}: {metric} {v.tags.get(metric, 'not evaluated')}, "
                     f"data {v.tags.get(DATA_TAG, '-')[:10]}, experiment {v.tags.get('dvc_exp_name', '-')}, "
                     f"commit {v.tags.get('git_commit', '-')[:12]}{'  <- champion' if champion and v.version == champion.version else ''}")
    return lines


def main(argv: list[str]) -> None:
    from rnnpipe.core.params import load_params
    from rnnpipe.core.tracking import REGISTERED_MODELS, Tracker

    tracking = load_params().tracking
    tracker = Tracker(True, tracking.uri)
    if argv[:1] == ["promote"]:
        if len(argv) != 3 or argv[1] not in REGISTERED_MODELS:
            raise TrackingError(f"usage: python -m rnnpipe.core.registry promote {{{','.join(REGISTERED_MODELS)}}} "
                                f"VERSION (got {' '.join(argv[1:]) or 'nothing'})")
        name = REGISTERED_MODELS[argv[1]]
        try:
            tracker.client.get_model_version(name, argv[2])
            tracker.client.set_registered_model_alias(name, CHAMPION, argv[2])
        except Exception as exc:  # MlflowException: no such model or version
            raise TrackingError(f"cannot promote {name} version {argv[2]}: {first_line(exc)}") from None
        print(f"registry: {name} version {argv[2]} is now @{CHAMPION}")
        return
    for kind, name in REGISTERED_MODELS.items():
        print("\n".join(summary(tracker.client, name, kind)))


if __name__ == "__main__":
    from rnnpipe.core.stage import run_stage

    run_stage(lambda: main(sys.argv[1:]))

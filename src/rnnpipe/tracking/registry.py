"""Model registry: every evaluated version carries its test metric; the best one is @champion.

Each training registers a new version of its model (rnnpipe.tracking.runs; the model's descriptor names it), tagged
with the DVC experiment and commit it was trained in. Its evaluation stage then calls `promote`: the version is
tagged with its test metric and the digest of the data it was evaluated on, and it takes the `champion` alias when
there is none yet, or when it beats the champion on the same data. A champion evaluated on other data is never
compared (another test split or corpus makes the numbers incomparable): the version stays a candidate and the line
printed says so.
Running it again changes nothing, so it is safe in a pipeline that DVC may rerun, and parallel evaluations (queue
workers, sweep agents, teammates on one server) end with the best of them as champion. A version promoted by hand
stays champion until the next evaluation on the same data, which leaves the best version evaluated there.

    python -m rnnpipe.tracking champions             # the champion of each model, and each version's figures
    python -m rnnpipe.tracking promote charrnn 7     # make version 7 the champion by hand
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from rnnpipe.core.descriptor import ModelDescriptor
from rnnpipe.core.errors import TrackingError

CHAMPION = "champion"
DATA_TAG = "eval_data_md5"
_ALREADY_EXISTS = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")


@dataclass(frozen=True)
class Promotion:
    version: str
    champion: Optional[str]   # the champion after the call
    promoted: bool
    reason: str

    def line(self, name: str) -> str:
        return f"registry: {name} version {self.version} {self.reason}"


def promote(client: Any, model: ModelDescriptor, run_id: str, value: float, data_md5: str,
            extra_tags: Optional[dict[str, str]] = None, max_rounds: int = 10) -> Optional[Promotion]:
    """Tag the version that run_id registered and make it champion if it beats the champion on the same data.

    Safe under parallel promoters without a lock: the alias is set to the best version evaluated on the champion's
    data as the store shows it now, then read back and set again until reading changes nothing. Every promoter tags
    its version before it reads, so whichever of them writes last has seen every rival's figure and leaves the best
    one as champion, whatever the interleaving.
    """
    name, metric, lower_is_better = model.experiment, model.ranking_metric, model.lower_is_better
    versions = [v for v in client.search_model_versions(f"name='{name}'") if v.run_id == run_id]
    if not versions:
        return None  # the run registered nothing (e.g. restored from DVC's run cache without a training run)
    version = max(versions, key=lambda v: int(v.version))
    # The version's commit and experiment are its training's (set when it was registered); an evaluation in
    # another workspace state, or again later, names them only where they are missing.
    tags = {**{k: v for k, v in (extra_tags or {}).items() if k not in (version.tags or {})},
            metric: repr(float(value)), DATA_TAG: data_md5}
    for key, tag_value in tags.items():
        client.set_model_version_tag(name, version.version, key, tag_value)

    before = current_champion(client, name)
    if before is not None and before.version != version.version and (
            before.tags.get(DATA_TAG) != data_md5 or metric not in before.tags):
        return Promotion(version.version, before.version, False,
                         f"({metric} {value:.5g}) was evaluated on other data than @{CHAMPION} version "
                         f"{before.version}: not compared (promote by hand: python -m rnnpipe.tracking "
                         f"promote {model.kind} {version.version})")
    champion = settle_champion(client, name, metric, lower_is_better, data_md5, max_rounds)
    if before is None and champion == version.version:
        return Promotion(version.version, champion, True, f"is the first evaluated: now @{CHAMPION} "
                                                          f"({metric} {value:.5g})")
    if before is not None and before.version == version.version:
        return Promotion(version.version, champion, False, f"is @{CHAMPION} ({metric} {value:.5g})")
    if champion == version.version:
        best = float(before.tags[metric])
        return Promotion(version.version, champion, True,
                         f"beats version {before.version} ({metric} {value:.5g} vs {best:.5g}): now @{CHAMPION}")
    rival = client.get_model_version(name, champion)
    return Promotion(version.version, champion, False,
                     f"({metric} {value:.5g}) does not beat @{CHAMPION} version {champion} "
                     f"({float(rival.tags[metric]):.5g})")


def settle_champion(client: Any, name: str, metric: str, lower_is_better: bool, data_md5: str,
                    max_rounds: int) -> str:
    """Point @champion at the best version evaluated on data_md5 and re-read until it stays; returns it.

    Ties go to the current champion, then to the older version, so a rerun never moves the alias."""
    from mlflow.exceptions import MlflowException

    for _ in range(max_rounds):
        champion = current_champion(client, name)
        rated = [(float(v.tags[metric]) * (1 if lower_is_better else -1),
                  0 if champion is not None and v.version == champion.version else 1, int(v.version), v.version)
                 for v in client.search_model_versions(f"name='{name}'")
                 if v.tags.get(DATA_TAG) == data_md5 and metric in v.tags]
        best = min(rated)[-1]
        if champion is not None and champion.version == best:
            return best
        try:
            client.set_registered_model_alias(name, CHAMPION, best)
        except MlflowException as exc:
            # A rival set the alias in the same instant (SQLite: UNIQUE constraint, PostgreSQL: duplicate key):
            # read again and decide again.
            if "unique constraint" not in str(exc).lower() and exc.error_code not in _ALREADY_EXISTS:
                raise
    raise TrackingError(f"registry: @{CHAMPION} of {name} kept moving under parallel promotions for {max_rounds} "
                        f"rounds; run `python -m rnnpipe.tracking champions` to see the versions")


def current_champion(client: Any, name: str) -> Optional[Any]:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None  # no alias yet (or no registered model)


def summary(client: Any, model: ModelDescriptor) -> list[str]:
    name, metric = model.experiment, model.ranking_metric
    champion = current_champion(client, name)
    lines = [f"{name}: @{CHAMPION} is version {champion.version}" if champion else f"{name}: no @{CHAMPION} yet"]
    for v in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        mark = "  <- champion" if champion and v.version == champion.version else ""
        lines.append(f"  version {v.version:>3}: {metric} {v.tags.get(metric, 'not evaluated')}, "
                     f"data {v.tags.get(DATA_TAG, '-')[:10]}, experiment {v.tags.get('dvc_exp_name', '-')}, "
                     f"commit {v.tags.get('git_commit', '-')[:12]}{mark}")
    return lines

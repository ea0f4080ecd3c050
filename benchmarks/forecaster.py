"""Forecaster benchmark: the course configuration and the default, on the same 5 seeds, next to every linear peer.

    python benchmarks/forecaster.py [--seeds 0 1 2 3 4] [--configs course default]
                                    [--set SECTION.KEY=VALUE ...]   (params.yaml overrides, as dvc exp run -S)

For each configuration and seed: train on the default signal (params.yaml `series`) exactly as the pipeline does
(runtime.threads: auto), evaluate on all test targets and forecast 200 steps recursively from the end of the
training part. Prints the mean validation MSE (the kept epoch's: what defaults are chosen by), test MSE mean ± sd,
training seconds, the ratios to the baselines measured on the same targets, and the recursive forecast's MSE
against the clean signal; then the default's figures next to its goals
(one-step MSE <= the ridge AR's and <= 1.04x the noise floor over the seeds, recursive MSE <= 0.002, training
<= 60 s per seed). Configurations: `course` (RNN hidden 5, RMSprop 1e-3, batch 8, 5 epochs, window 10) and
`default` (params.yaml `forecaster` with the --set overrides, so a candidate default is measured without editing
the file). The ridge AR is the pipeline's own baseline (window and penalty picked on its own validation part); a
k-nearest-neighbour regression is printed last as a nonlinear yardstick (no training).
"""
from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from arguments import ArgumentParser, check_integer, project_params, refuse  # benchmarks/, beside this script

from rnnpipe import course
from rnnpipe.core.errors import RnnpipeError
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.numerics import apply_runtime
from rnnpipe.core.params import SEED_LIMIT
from rnnpipe.core.threads import thread_policy

if TYPE_CHECKING:
    import numpy as np

GOALS = {"over_ridge": 1.0, "ratio": 1.04, "recursive": 0.002, "seconds": 60.0}
HORIZON = 200


def run(config, params, seed: int) -> dict:
    from rnnpipe.forecaster.evaluate import forecaster_metrics, mse, with_ridge_baseline
    from rnnpipe.forecaster.forecast import recursive_forecast
    from rnnpipe.forecaster.params import validation_size
    from rnnpipe.forecaster.train import train_forecaster
    from rnnpipe.forecaster.windows import forecaster_windows
    from rnnpipe.series.signal import noisy_signal

    series, config = params.series, config.model_copy(update={"seed": seed})
    configure_determinism(seed)
    signal = noisy_signal(series.x_min, series.x_max, series.n_points, series.n_train, series.noise_std, series.seed)
    n_val = validation_size(series.n_train, config.seq_length, config.val_fraction)
    windows = forecaster_windows(signal["y"].to_numpy(), series.n_train, config.seq_length, n_val)
    model, result = train_forecaster(windows, config, show_progress=False,
                                     threads=thread_policy(params.runtime))
    clean = signal["clean"].to_numpy()
    metrics, _ = forecaster_metrics(model, windows, clean[series.n_train:])
    metrics = with_ridge_baseline(metrics, signal["y"].to_numpy(), series.n_train)
    history = signal["y"].to_numpy()[series.n_train - config.seq_length:series.n_train]
    recursive = mse(recursive_forecast(model, history, HORIZON), clean[series.n_train:series.n_train + HORIZON])
    return {**metrics, "seconds": result.seconds, "recursive": recursive, "val_mse": result.kept_val_loss}


def knn_reference(y: np.ndarray, n_train: int, window: int, neighbours: int) -> float:
    """Test MSE of a k-nearest-neighbour regression: each test window's prediction is the mean next value of the
    `neighbours` training windows closest to it (Euclidean). Not a model we ship: a yardstick for how much a
    nonlinear predictor can gain over the linear AR on this signal."""
    import numpy as np

    from rnnpipe.forecaster.evaluate import mse

    train_x = np.stack([y[i - window:i] for i in range(window, n_train)])
    train_y = y[window:n_train]
    test_x = np.stack([y[i - window:i] for i in range(n_train, len(y))])
    distances = (test_x ** 2).sum(1)[:, None] - 2 * test_x @ train_x.T + (train_x ** 2).sum(1)[None, :]
    nearest = np.argsort(distances, axis=1)[:, :neighbours]
    return mse(train_y[nearest].mean(1), y[n_train:])


def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="the seeds each configuration trains with (forecaster.seed), one run each")
    parser.add_argument("--configs", nargs="+", choices=["course", "default"], default=["course", "default"],
                        help="which configurations to train")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params.yaml for this run, as `dvc exp run -S` (repeatable), e.g. "
                             "--set forecaster.seq_length=400 --set forecaster.input_noise=0.185")
    args = parser.parse_args()
    for seed in args.seeds:  # as forecaster.seed allows; a seed twice would count one run twice in the mean and sd
        check_integer("--seeds", seed, 0, SEED_LIMIT - 1)
        if args.seeds.count(seed) > 1:
            refuse(f"--seeds: {seed} is given twice: allowed are distinct integers from 0 to {SEED_LIMIT - 1}")
    # runtime is pinned from params.yaml before torch loads: an override of it would not take effect.
    pinned = [pair for pair in args.set if pair.partition("=")[0].partition(".")[0] == "runtime"]
    if pinned:
        refuse(f"--set {pinned[0]!r}: runtime is pinned before torch loads; change it in params.yaml instead")
    try:  # every argument is checked before torch loads
        params = project_params(args.set)
        apply_runtime(params.runtime)  # the pipeline's numerics, before torch and numpy load
    except RnnpipeError as exc:  # params.yaml, a --set, or a runtime.isa this CPU does not have
        refuse(str(exc))
    from rnnpipe.forecaster.evaluate import mse
    from rnnpipe.series.signal import noisy_signal

    default = params.forecaster
    configs = {
        "course": default.model_copy(update=course.section("forecaster", "forecaster")),
        "default": default,
    }
    print(f"signal: {params.series.n_points} points, {params.series.n_train} train, noise std "
          f"{params.series.noise_std}; seeds {args.seeds}" + (f"; overrides {' '.join(args.set)}" if args.set else ""))
    header = (f"{'config':<12} {'window':>6} {'val MSE':>8} {'test MSE mean ± sd':>22} {'train s':>8} "
              f"{'/ ridge AR':>11} {'/ linear AR':>12} {'/ noise floor':>14} {'/ persistence':>14} "
              f"{'recursive MSE':>14}")
    print(header)
    print("-" * len(header))
    goals: list[dict[str, float]] = []
    for name, config in configs.items():
        if name not in args.configs:
            continue
        rows = [run(config, params, seed) for seed in args.seeds]
        test_mse = [r["test_mse"] for r in rows]
        mean = statistics.mean(test_mse)
        sd = statistics.stdev(test_mse) if len(test_mse) > 1 else 0.0
        linear = statistics.mean(r["linear_ar_mse"] for r in rows)
        ridge = statistics.mean(r["ridge_ar_mse"] for r in rows)
        floor = statistics.mean(r["noise_floor_mse"] for r in rows)
        persistence = statistics.mean(r["persistence_mse"] for r in rows)
        seconds = statistics.mean(r["seconds"] for r in rows)
        recursive = statistics.mean(r["recursive"] for r in rows)
        val = statistics.mean(r["val_mse"] for r in rows)
        print(f"{name:<12} {config.seq_length:>6} {val:>8.5f} {mean:>13.5f} ± {sd:.5f} {seconds:>8.1f} "
              f"{mean / ridge:>11.3f} {mean / linear:>12.3f} {mean / floor:>14.3f} {mean / persistence:>14.3f} "
              f"{recursive:>14.4f}")
        print(f"{'':<12} {'':>6} baselines on the same targets: ridge AR {ridge:.5f} (window "
              f"{rows[0]['ridge_ar_window']}, penalty {rows[0]['ridge_ar_penalty']:g}, picked on its own validation "
              f"part), linear AR {linear:.5f}, noise floor {floor:.5f}, persistence {persistence:.5f}; recursive: worst seed "
              f"{max(r['recursive'] for r in rows):.4f}")
        if name == "default":
            figures = {"over_ridge": mean / ridge, "ratio": mean / floor, "recursive": recursive, "seconds": seconds}
            goals.append(figures)
    s = params.series
    signal = noisy_signal(s.x_min, s.x_max, s.n_points, s.n_train, s.noise_std, s.seed)
    y, clean = signal["y"].to_numpy(), signal["clean"].to_numpy()
    floor = mse(clean[s.n_train:], y[s.n_train:])
    for figures in goals:
        print("\ngoals for the default (means over the seeds):")
        for key, label, unit in (("over_ridge", "one-step test MSE / ridge AR's", "x"),
                                 ("ratio", "one-step test MSE / noise floor", "x"),
                                 ("recursive", f"{HORIZON}-step recursive forecast MSE vs the clean signal", ""),
                                 ("seconds", "training time per seed", " s")):
            verdict = "met" if figures[key] <= GOALS[key] else "NOT met"
            print(f"  {label:<56} {figures[key]:>8.4g}{unit}  goal <= {GOALS[key]:g}{unit}: {verdict}")
    print("\nreference, no training: k-nearest-neighbour regression over all training windows")
    for window in (40, 200):
        for neighbours in (10, 20):
            knn_mse = knn_reference(y, s.n_train, window, neighbours)
            print(f"  window {window:>3}, {neighbours} neighbours: test MSE {knn_mse:.5f} = {knn_mse / floor:.3f} "
                  "x noise floor")


if __name__ == "__main__":
    main()

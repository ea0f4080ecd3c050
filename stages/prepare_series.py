"""Stage prepare_series: the noisy signal and the AR(1) processes → data/series/, metrics, plots."""
import sys

import pandas as pd

from rnnpipe.cli import configure_determinism, run_stage
from rnnpipe.io import save_figure, write_csv, write_json
from rnnpipe.params import load_params
from rnnpipe.plots import close, series_figure
from rnnpipe.series import ar1_process, ar_summary, noisy_signal


def main(out_dir: str = "data/series", metrics_path: str = "metrics/series.json",
         plot_path: str = "plots/series/series.png") -> None:
    p = load_params()
    s, ar = p.series, p.ar
    configure_determinism(s.seed)
    signal = noisy_signal(s.x_min, s.x_max, s.n_points, s.n_train, s.noise_std, s.seed)
    x1, eps1, h1 = ar1_process([ar.sigma_1d], [ar.r_1d], ar.length, ar.seed, ar.h0)
    # A different seed for the 2-D process keeps its noise independent of the 1-D one.
    x2, eps2, h2 = ar1_process(ar.sigma_2d, ar.r_2d, ar.length, ar.seed + 1, ar.h0)
    t = range(1, ar.length + 1)
    ar1 = pd.DataFrame({"t": t, "x": x1[:, 0]})
    ar2 = pd.DataFrame({"t": t, "x1": x2[:, 0], "x2": x2[:, 1]})

    write_csv(f"{out_dir}/signal.csv", signal)
    write_csv(f"{out_dir}/ar1.csv", ar1)
    write_csv(f"{out_dir}/ar2.csv", ar2)
    test = signal[signal["split"] == "test"]
    write_json(metrics_path, {
        "signal": {"n_train": s.n_train, "n_test": len(test),
                   "noise_std_measured": float((signal["y"] - signal["clean"]).std())},
        "ar1": ar_summary(x1[:, 0], ar.sigma_1d, ar.r_1d, eps1[:, 0], h1[0]),
        "ar2_x1": ar_summary(x2[:, 0], ar.sigma_2d[0], ar.r_2d[0], eps2[:, 0], h2[0]),
        "ar2_x2": ar_summary(x2[:, 1], ar.sigma_2d[1], ar.r_2d[1], eps2[:, 1], h2[1]),
    })
    fig = series_figure(signal, ar1, ar2)
    save_figure(plot_path, fig)
    close(fig)
    print(f"series: {s.n_points} signal points ({s.n_train} train), AR(1) 1-D and 2-D with {ar.length} steps")


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

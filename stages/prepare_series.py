"""Stage prepare_series: the noisy signal and the AR(1) processes → data/series/, metrics, plots."""
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import save_figure, write_csv, write_json
from rnnpipe.core.plots import close
from rnnpipe.params import Params
from rnnpipe.series.build import build_series
from rnnpipe.series.plots import series_figure


def main(params: Params, out_dir: str = "data/series", report_path: str = "reports/series.json",
         plot_path: str = "plots/series/series.png") -> None:
    configure_determinism(params.series.seed)
    series = build_series(params.series, params.ar)
    write_csv(f"{out_dir}/signal.csv", series.signal)
    write_csv(f"{out_dir}/ar1.csv", series.ar1)
    write_csv(f"{out_dir}/ar2.csv", series.ar2)
    write_json(report_path, series.summary)
    fig = series_figure(series.signal, series.ar1, series.ar2)
    save_figure(plot_path, fig)
    close(fig)
    print(f"series: {params.series.n_points} signal points ({params.series.n_train} train), AR(1) 1-D and 2-D with "
          f"{params.ar.length} steps")

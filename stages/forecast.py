"""Stage forecast: recursive multi-step forecast from the end of the training part → samples/forecast.*."""
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, save_figure, write_csv, write_results
from rnnpipe.core.plots import close, long_table
from rnnpipe.forecaster.descriptor import DESCRIPTOR
from rnnpipe.forecaster.forecast import RESULTS, forecast_metrics, forecast_table, recursive_forecast
from rnnpipe.forecaster.model import load_forecaster
from rnnpipe.forecaster.plots import predictions_figure
from rnnpipe.forecaster.signal_file import read_signal
from rnnpipe.params import Params
from rnnpipe.tracking.runs import Tracker


def main(params: Params, signal_path: str = "data/series/signal.csv", model_path: str = "models/forecaster/model.pt",
         out_dir: str = "samples", metrics_path: str = "metrics/forecast.json",
         report_path: str = "reports/forecast.json", plot_table: str = "plots/forecaster/forecast.csv") -> None:
    horizon = params.forecast.horizon
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(0)
    config, model = load_forecaster(model_path)
    signal = read_signal(signal_path)
    n_train = int((signal["split"] == "train").sum())
    history = signal["y"].to_numpy()[n_train - config.seq_length:n_train]
    frame = forecast_table(signal.iloc[n_train:n_train + horizon], recursive_forecast(model, history, horizon))
    write_csv(f"{out_dir}/forecast.csv", frame)
    write_csv(plot_table, long_table(frame.drop(columns="step"), "x"))
    metrics = forecast_metrics(frame)
    write_results(metrics_path, report_path, metrics, RESULTS)
    fig = predictions_figure(frame["x"], frame["y"], frame["clean"], {"recursive forecast": frame["forecast"]},
                             f"{horizon}-step recursive forecast from the end of the training part")
    save_figure(f"{out_dir}/forecast.png", fig)
    close(fig)

    with tracker.model_run(DESCRIPTOR, file_digest(model_path)):
        tracker.log_metrics({f"forecast_{k}": v for k, v in metrics.items()})
        tracker.log_artifact(f"{out_dir}/forecast.png")
        tracker.log_artifact(f"{out_dir}/forecast.csv", "samples")
    print(f"forecast: {horizon} steps, MSE vs clean signal {metrics['mse_vs_clean']:.4f}")

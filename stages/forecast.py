"""Stage forecast: recursive multi-step forecast from the end of the training part → samples/forecast.*."""
import sys

import pandas as pd

from rnnpipe.cli import configure_determinism, run_stage
from rnnpipe.evaluate import mse
from rnnpipe.generate import recursive_forecast
from rnnpipe.io import file_digest, save_figure, write_csv, write_json
from rnnpipe.models import load_model
from rnnpipe.params import load_params
from rnnpipe.plots import close, predictions_figure
from rnnpipe.tracking import Tracker


def main(signal_path: str = "data/series/signal.csv", model_path: str = "models/forecaster/model.pt",
         out_dir: str = "samples", metrics_path: str = "metrics/forecast.json") -> None:
    params = load_params()
    horizon = params.forecast.horizon
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(0)
    config, model = load_model(model_path)
    signal = pd.read_csv(signal_path)
    n_train = int((signal["split"] == "train").sum())
    history = signal["y"].to_numpy()[n_train - config["seq_length"]:n_train]
    future = signal.iloc[n_train:n_train + horizon]
    forecast = recursive_forecast(model, history, horizon)
    frame = pd.DataFrame({"step": range(1, horizon + 1), "x": future["x"].to_numpy(), "forecast": forecast,
                          "y": future["y"].to_numpy(), "clean": future["clean"].to_numpy()})
    write_csv(f"{out_dir}/forecast.csv", frame)
    metrics = {"horizon": horizon, "mse_vs_noisy": mse(forecast, frame["y"]),
               "mse_vs_clean": mse(forecast, frame["clean"])}
    for steps in (10, 50):
        if steps <= horizon:
            metrics[f"mse_vs_clean_first_{steps}"] = mse(forecast[:steps], frame["clean"][:steps])
    write_json(metrics_path, metrics)
    fig = predictions_figure(frame["x"], frame["y"], frame["clean"], {"recursive forecast": frame["forecast"]},
                             f"{horizon}-step recursive forecast from the end of the training part")
    save_figure(f"{out_dir}/forecast.png", fig)
    close(fig)

    with tracker.model_run("forecaster", file_digest(model_path)):
        tracker.log_metrics({f"forecast_{k}": v for k, v in metrics.items()})
        tracker.log_artifact(f"{out_dir}/forecast.png", "samples")
        tracker.log_artifact(f"{out_dir}/forecast.csv", "samples")
    print(f"forecast: {horizon} steps, MSE vs clean signal {metrics['mse_vs_clean']:.4f}")


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

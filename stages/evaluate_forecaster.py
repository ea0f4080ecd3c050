"""Stage evaluate_forecaster: test MSE against persistence, linear and ridge AR and the noise floor → metrics, plots."""
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, save_figure, write_csv, write_results
from rnnpipe.core.plots import close, long_table
from rnnpipe.forecaster.descriptor import DESCRIPTOR
from rnnpipe.forecaster.evaluate import (RESULTS, forecaster_metrics, prediction_table, ridge_ar_predictions,
                                       with_ridge_baseline)
from rnnpipe.forecaster.model import load_forecaster
from rnnpipe.forecaster.plots import predictions_figure
from rnnpipe.forecaster.signal_file import read_signal
from rnnpipe.forecaster.windows import forecaster_windows
from rnnpipe.params import Params
from rnnpipe.tracking.runs import Tracker


def main(params: Params, signal_path: str = "data/series/signal.csv", model_path: str = "models/forecaster/model.pt",
         metrics_path: str = "metrics/forecaster.json", plots_dir: str = "plots/forecaster",
         report_path: str = "reports/forecaster_test.json") -> None:
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(0)
    config, model = load_forecaster(model_path)
    signal = read_signal(signal_path)
    n_train = int((signal["split"] == "train").sum())
    windows = forecaster_windows(signal["y"].to_numpy(), n_train, config.seq_length, config.n_val)
    test = signal.iloc[n_train:]
    metrics, series = forecaster_metrics(model, windows, test["clean"].to_numpy())
    metrics = with_ridge_baseline(metrics, signal["y"].to_numpy(), n_train)
    write_results(metrics_path, report_path, metrics, RESULTS)
    ridge = ridge_ar_predictions(signal["y"].to_numpy(), n_train, metrics["ridge_ar_window"],
                                 metrics["ridge_ar_penalty"])
    frame = prediction_table(test, series, ridge)
    write_csv(f"{plots_dir}/predictions.csv", long_table(frame, "x"))
    fig = predictions_figure(frame["x"], frame["y"], frame["clean"],
                             {"forecaster": frame["forecaster"], "ridge AR": frame["ridge_ar"]},
                             f"one-step predictions, first {len(frame)} test points: MSE (all test) "
                             f"{metrics['test_mse']:.4f} "
                             f"(ridge AR {metrics['ridge_ar_mse']:.4f}, noise floor "
                             f"{metrics['noise_floor_mse']:.4f})")
    save_figure(f"{plots_dir}/predictions.png", fig)
    close(fig)

    with tracker.model_run(DESCRIPTOR, file_digest(model_path)):
        tracker.log_metrics(metrics)
        tracker.log_artifact(f"{plots_dir}/predictions.png")
        tracker.log_artifact(metrics_path, "metrics")
        tracker.log_artifact(report_path, "metrics")
        tracker.promote(DESCRIPTOR, metrics["test_mse"], file_digest(signal_path, "md5"))
    print("forecaster test: " + ", ".join(f"{k} {v:.5g}" for k, v in metrics.items()))

"""Stage train_forecaster: many-to-one RNN on the training part of the signal → models/forecaster/, loss plots."""
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, save_figure, write_csv, write_json
from rnnpipe.core.params import as_flat_dict
from rnnpipe.core.plots import close, long_table, loss_figure
from rnnpipe.core.threads import thread_policy
from rnnpipe.core.training import history_frame
from rnnpipe.forecaster.descriptor import DESCRIPTOR
from rnnpipe.forecaster.params import validation_size
from rnnpipe.forecaster.signal_file import read_signal
from rnnpipe.forecaster.train import train_forecaster, training_summary
from rnnpipe.forecaster.windows import forecaster_windows
from rnnpipe.params import Params
from rnnpipe.sweep.report import with_pruning
from rnnpipe.tracking.runs import MODEL_TAG, Tracker


def main(params: Params, signal_path: str = "data/series/signal.csv", model_path: str = "models/forecaster/model.pt",
         plots_dir: str = "plots/forecaster", report_path: str = "reports/forecaster_train.json") -> None:
    f = params.forecaster
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)  # fails fast, before any training
    configure_determinism(f.seed)
    signal = read_signal(signal_path)
    n_train = int((signal["split"] == "train").sum())
    windows = forecaster_windows(signal["y"].to_numpy(), n_train, f.seq_length,
                                 validation_size(n_train, f.seq_length, f.val_fraction))

    signal_md5 = file_digest(signal_path, "md5")
    with tracker.training_run(DESCRIPTOR, as_flat_dict(f, "forecaster"), {"data_md5.signal": signal_md5},
                              name=f"{f.cell}-{f.hidden_size}x{f.num_layers} window {f.seq_length}"
                                   + (f" linear {f.linear_window}" if f.linear_window else ""),
                              datasets={"signal": (signal_path, signal_md5)}):
        model, result = train_forecaster(windows, f, on_epoch=with_pruning(tracker.epoch_logger("mse")),
                                         threads=thread_policy(params.runtime))
        save_model(model_path, model.config, model)
        history = history_frame(result.history, "mse")
        write_csv(f"{plots_dir}/loss.csv", long_table(history, "epoch"))
        fig = loss_figure(history, f"forecaster ({f.cell}, hidden {f.hidden_size})", "MSE")
        save_figure(f"{plots_dir}/loss.png", fig)
        close(fig)
        summary = training_summary(result, windows)
        write_json(report_path, summary)

        tracker.set_tags({MODEL_TAG: file_digest(model_path)})
        tracker.log_metrics({**summary, "train_seconds": result.seconds})
        tracker.log_artifact(f"{plots_dir}/loss.png")
        recent = signal["y"].to_numpy()[n_train - f.seq_length:n_train]
        if tracker.enabled:  # the serving module loads MLflow, which an untracked run never imports
            from rnnpipe.forecaster.serving import MODEL_CODE, SIGNATURE, input_example
            tracker.log_model(DESCRIPTOR, MODEL_CODE, model_path, SIGNATURE, input_example(recent), "forecaster",
                              params.serving.forecaster.model_dump())
    print(f"forecaster: kept epoch {result.kept_epoch}/{f.epochs} ({f.keep}), val MSE {result.kept_val_loss:.5f}, "
          f"{result.seconds:.1f}s")

"""Stage train_charrnn: char-RNN on the cleaned corpus → models/charrnn/, loss plots."""
import sys

from rnnpipe.core.runtime import configure_determinism, pin_numerics, thread_policy

PARAMS = pin_numerics()  # first: instruction sets and threads from params.yaml `runtime`, before torch loads

from rnnpipe.charrnn.corpus import read_splits
from rnnpipe.charrnn.evaluate import history_in_bits
from rnnpipe.charrnn.model import LogitsOnly
from rnnpipe.charrnn.train import train_charrnn, training_summary
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.io import file_digest, read_json, save_figure, write_csv, write_json
from rnnpipe.core.params import as_flat_dict
from rnnpipe.core.plots import close, loss_figure
from rnnpipe.core.stage import run_stage
from rnnpipe.core.tracking import MODEL_TAG, Tracker
from rnnpipe.core.training import history_frame


def main(corpus_dir: str = "data/corpus", model_path: str = "models/charrnn/model.pt",
         plots_dir: str = "plots/charrnn", metrics_path: str = "metrics/charrnn_train.json") -> None:
    p = PARAMS.charrnn
    tracker = Tracker(PARAMS.tracking.enabled, PARAMS.tracking.uri)  # fails fast, before any training
    configure_determinism(p.seed)
    vocab = read_json(f"{corpus_dir}/vocab.json")["vocab"]
    train_ids, val_ids = read_splits(corpus_dir, ("train", "val"), vocab)
    data_tags = {f"data_md5.{name}": file_digest(f"{corpus_dir}/{name}.txt", "md5") for name in ("train", "val")}

    with tracker.training_run("charrnn", as_flat_dict(p, "charrnn"), data_tags):
        model, result = train_charrnn(train_ids, val_ids, vocab, p, on_epoch=tracker.epoch_logger(),
                                      threads=thread_policy(PARAMS.runtime))
        save_model(model_path, model.config, model)
        history = history_in_bits(history_frame(result.history))
        write_csv(f"{plots_dir}/loss.csv", history)
        fig = loss_figure(history, f"char-RNN ({p.cell}, hidden {p.hidden_size}, {p.mode})", "bits per char")
        save_figure(f"{plots_dir}/loss.png", fig)
        close(fig)
        summary = training_summary(result, len(train_ids), len(vocab))
        write_json(metrics_path, summary)

        tracker.set_tags({MODEL_TAG: file_digest(model_path)})
        tracker.log_metrics({**summary, "train_seconds": result.seconds,
                             "targets_per_second": result.targets_seen / max(result.seconds, 1e-9)})
        tracker.log_artifact(f"{plots_dir}/loss.png", "plots")
        tracker.log_model("charrnn", LogitsOnly(model), train_ids[:32].reshape(1, -1).numpy())
    print(f"charrnn: best epoch {result.best_epoch}/{p.epochs}, val {summary['best_val_bits_per_char']:.3f} "
          f"bits/char, {result.targets_seen / result.seconds:,.0f} targets/s, {result.seconds:.0f}s")


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

"""Stage train_charrnn: char-RNN on the cleaned corpus → models/charrnn/, loss plots."""
from rnnpipe.charrnn.corpus import read_splits, read_vocab
from rnnpipe.charrnn.descriptor import DESCRIPTOR
from rnnpipe.charrnn.evaluate import LOG2E
from rnnpipe.charrnn.train import check_trainable, train_charrnn, training_summary
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, save_figure, write_csv, write_json
from rnnpipe.core.params import as_flat_dict
from rnnpipe.core.plots import close, long_table, loss_figure
from rnnpipe.core.threads import thread_policy
from rnnpipe.core.training import history_frame
from rnnpipe.params import Params
from rnnpipe.sweep.report import with_pruning
from rnnpipe.tracking.runs import MODEL_TAG, Tracker


def main(params: Params, corpus_dir: str = "data/corpus", model_path: str = "models/charrnn/model.pt",
         plots_dir: str = "plots/charrnn", report_path: str = "reports/charrnn_train.json") -> None:
    p = params.charrnn
    vocab = read_vocab(corpus_dir)
    train_ids, val_ids = read_splits(corpus_dir, ("train", "val"), vocab)
    check_trainable(train_ids, len(val_ids), p, vocab)  # before any run is opened or any training starts
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)  # a dead server: one line, before training
    configure_determinism(p.seed)
    splits = {name: (f"{corpus_dir}/{name}.txt", file_digest(f"{corpus_dir}/{name}.txt", "md5"))
              for name in ("train", "val")}

    with tracker.training_run(DESCRIPTOR, as_flat_dict(p, "charrnn"),
                              {f"data_md5.{name}": md5 for name, (_, md5) in splits.items()},
                              name=f"{p.cell}-{p.hidden_size}x{p.num_layers} {p.mode} {p.epochs} epochs",
                              datasets={f"corpus-{name}": split for name, split in splits.items()}):
        model, result = train_charrnn(train_ids, val_ids, vocab, p,
                                      on_epoch=with_pruning(tracker.epoch_logger("bits_per_char", scale=LOG2E)),
                                      threads=thread_policy(params.runtime))
        save_model(model_path, model.config, model)
        history = history_frame(result.history, "bits_per_char", scale=LOG2E)
        write_csv(f"{plots_dir}/loss.csv", long_table(history, "epoch"))
        fig = loss_figure(history, f"char-RNN ({p.cell}, hidden {p.hidden_size}, {p.mode})", "bits per char")
        save_figure(f"{plots_dir}/loss.png", fig)
        close(fig)
        summary = training_summary(result, len(train_ids), len(vocab), model)
        write_json(report_path, summary)

        tracker.set_tags({MODEL_TAG: file_digest(model_path)})
        tracker.log_metrics({**summary, "train_seconds": result.seconds,
                             "targets_per_second": result.targets_seen / max(result.seconds, 1e-9)})
        tracker.log_artifact(f"{plots_dir}/loss.png")
        if tracker.enabled:  # the serving module loads MLflow, which an untracked run never imports
            from rnnpipe.charrnn.serving import INPUT_EXAMPLE, MODEL_CODE, SIGNATURE
            tracker.log_model(DESCRIPTOR, MODEL_CODE, model_path, SIGNATURE, INPUT_EXAMPLE, "charrnn",
                              params.serving.charrnn.model_dump())
    how = ("a gated mixture" if p.mixture == "gated"
           else f"weights {summary['rnn_weight']:.3f}, {summary['ngram_weight']:.3f}")
    mixed = (f", with its {p.ngram_order}-gram part ({how}) {summary['combined_val_bits_per_char']:.3f}"
             if p.ngram_order else "")
    print(f"charrnn: best epoch {result.best_epoch}/{p.epochs}, val {summary['best_val_bits_per_char']:.3f} "
          f"bits/char{mixed}, {result.targets_seen / result.seconds:,.0f} targets/s, {result.seconds:.0f}s")

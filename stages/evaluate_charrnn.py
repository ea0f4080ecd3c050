"""Stage evaluate_charrnn: held-out bits/char, perplexity, accuracy against unigram and n-gram baselines."""
from rnnpipe.charrnn.corpus import read_splits
from rnnpipe.charrnn.descriptor import DESCRIPTOR
from rnnpipe.charrnn.evaluate import RESULTS, held_out_metrics
from rnnpipe.charrnn.model import load_charrnn
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, files_digest, write_results
from rnnpipe.params import Params
from rnnpipe.tracking.runs import Tracker


def main(params: Params, corpus_dir: str = "data/corpus", model_path: str = "models/charrnn/model.pt",
         metrics_path: str = "metrics/charrnn.json", report_path: str = "reports/charrnn_test.json") -> None:
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(0)
    config, model = load_charrnn(model_path)
    train, val, test = read_splits(corpus_dir, ("train", "val", "test"), config.vocab)
    metrics = held_out_metrics(model, config.mode, config.seq_length, train, val, test, config.vocab_size,
                               params.charrnn_eval.baseline_order)
    write_results(metrics_path, report_path, metrics, RESULTS)

    with tracker.model_run(DESCRIPTOR, file_digest(model_path)):
        tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        tracker.log_artifact(metrics_path, "metrics")
        tracker.log_artifact(report_path, "metrics")
        tracker.promote(DESCRIPTOR, metrics["bits_per_char"],
                        files_digest([f"{corpus_dir}/{name}.txt" for name in ("train", "val", "test")]))
    print("charrnn test: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))

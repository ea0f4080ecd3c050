"""Stage evaluate_charrnn: held-out bits/char, perplexity, accuracy against unigram and n-gram baselines."""
import sys

import torch

from rnnpipe.cli import configure_determinism, run_stage
from rnnpipe.corpus import encode
from rnnpipe.evaluate import baseline_metrics, char_losses, char_metrics
from rnnpipe.io import file_digest, read_json, write_json
from rnnpipe.models import load_model
from rnnpipe.params import load_params
from rnnpipe.tracking import Tracker

CONTEXT_CHARS = 200  # text before the test split that warms up the recurrent state (and feeds n-gram contexts)


def main(corpus_dir: str = "data/corpus", model_path: str = "models/charrnn/model.pt",
         metrics_path: str = "metrics/charrnn.json") -> None:
    params = load_params()
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(0)
    config, model = load_model(model_path)
    vocab = config["vocab"]
    train, val, test = (encode(open(f"{corpus_dir}/{name}.txt", encoding="utf-8").read(), vocab)
                        for name in ("train", "val", "test"))
    context = torch.cat([train, val])[-max(CONTEXT_CHARS, config["seq_length"]):]
    losses, hits = char_losses(model, context, test, config["mode"], config["seq_length"])
    metrics = char_metrics(losses, hits)
    metrics.update(baseline_metrics(train, context, test, len(vocab), params.charrnn_eval.ngram_order))
    metrics["bits_per_char_minus_ngram"] = metrics["bits_per_char"] - metrics["ngram_bits_per_char"]
    write_json(metrics_path, metrics)

    with tracker.model_run("charrnn", file_digest(model_path)):
        tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        tracker.log_artifact(metrics_path, "metrics")
    print("charrnn test: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

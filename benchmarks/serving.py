"""What the served models' request limits cost on this machine; every figure is measured in this one run.

    python benchmarks/serving.py [--corpus FILE]   (default: the corpus params.yaml names)

Default-size models (params.yaml `charrnn`, `forecaster`) with untrained weights: the cost of a request does not
depend on what the weights are. The char-RNN's n-gram part is estimated on the corpus, as training does.

per character   milliseconds of the n-gram part's next-character distribution after a history of 10 and of 10,000
                characters (the RNN's step carries its state: it costs the same anywhere), given its last order-1
                characters (rnnpipe.charrnn.generate) and given the whole history, side by side: the first ratio
                should be about 1.
at the limits   seconds for the largest request params.yaml `serving` lets through: max_chars_per_request
                characters of the char-RNN (in prompts of max_n_chars), max_horizon steps of the forecaster.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from arguments import ArgumentParser, prepared_corpus, project_params, refuse  # noqa: E402  (benchmarks/, beside this)

from rnnpipe.core.errors import RnnpipeError  # noqa: E402
from rnnpipe.core.numerics import apply_runtime  # noqa: E402

if TYPE_CHECKING:
    from rnnpipe.charrnn.model import CharRNN
    from rnnpipe.params import Params


def default_charrnn(params: Params, corpus: str | None) -> CharRNN:
    """The default char-RNN, its n-gram part counted on the training split of params.yaml's corpus or of --corpus,
    as training counts it."""
    from rnnpipe.charrnn.corpus import encode
    from rnnpipe.charrnn.model import CharRNN, CharRNNConfig

    prepared = prepared_corpus(params, corpus)
    text, vocab = prepared.splits["train"], prepared.vocab
    c = params.charrnn
    config = CharRNNConfig(vocab_size=len(vocab), hidden_size=c.hidden_size, num_layers=c.num_layers, cell=c.cell,
                           input=c.input, embedding_dim=c.embedding_dim, dropout=c.dropout, mode=c.mode,
                           seq_length=c.seq_length, vocab=vocab)
    model = CharRNN(config).eval()
    if c.ngram_order:
        model.attach_ngram(encode(text, vocab), c.ngram_order, 1.0, 1.0)  # the weights cost nothing extra
    return model


def ngram_seconds(model: CharRNN, history: list[int], whole_history: bool, repeats: int = 200) -> float:
    """Seconds for the n-gram part's next-character distribution after `history`, the per-character work that
    could grow with the history (the RNN's step does not: it carries its state): given its last order-1
    characters, as rnnpipe.charrnn.generate does, or given every character so far. The best of three runs."""
    ngram = model.ngram
    context = history if whole_history else history[max(0, len(history) - ngram.order + 1):]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            ngram.distribution(context)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="a UTF-8 text file instead of the corpus params.yaml names")
    args = parser.parse_args()
    try:
        params = project_params(corpus=args.corpus)  # a path that is no file is refused before torch loads
        apply_runtime(params.runtime)  # before torch loads, as every stage does
    except RnnpipeError as exc:  # params.yaml, or a runtime.isa this CPU does not have
        refuse(str(exc))
    import numpy as np
    import pandas as pd

    from rnnpipe.charrnn.generate import generate_text
    from rnnpipe.forecaster.forecast import recursive_forecast
    from rnnpipe.forecaster.model import Forecaster, ForecasterConfig

    try:
        model = default_charrnn(params, args.corpus)
    except RnnpipeError as exc:
        refuse(str(exc))
    _ = model.ngram
    history = [i % model.config.vocab_size for i in range(10_000)]
    print("n-gram part per character (ms)   after 10   after 10,000   ratio")
    for label, whole in (("its context (as served)", False), ("the whole history", True)):
        short, long = ngram_seconds(model, history[:10], whole), ngram_seconds(model, history, whole)
        print(f"{label:<31}  {short * 1e3:8.3f}   {long * 1e3:12.3f}   {long / short:5.2f}")

    limits = params.serving
    rows = limits.charrnn.max_chars_per_request // limits.charrnn.max_n_chars
    start = time.perf_counter()
    for _ in range(rows):
        generate_text(model, model.config.vocab, "мой дядя самых", limits.charrnn.max_n_chars, model.config.mode,
                      model.config.seq_length, "top_k", 0.8, 5)
    charrnn_seconds = time.perf_counter() - start
    f = params.forecaster
    forecaster = Forecaster(ForecasterConfig(cell=f.cell, hidden_size=f.hidden_size, num_layers=f.num_layers,
                                             seq_length=f.seq_length, n_val=1)).eval()
    recent = pd.Series(np.sin(np.linspace(0, 10, f.seq_length))).to_numpy()
    start = time.perf_counter()
    recursive_forecast(forecaster, recent, limits.forecaster.max_horizon)
    forecaster_seconds = time.perf_counter() - start
    print("at the limits (s)")
    print(f"char-RNN    {rows} prompts x {limits.charrnn.max_n_chars} characters   {charrnn_seconds:6.2f}")
    print(f"forecaster  horizon {limits.forecaster.max_horizon}   {forecaster_seconds:6.2f}")


if __name__ == "__main__":
    main()

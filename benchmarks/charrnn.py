"""Char-RNN benchmark on the default corpus (params.yaml `corpus`), in one run:

(a) training targets per second: the course implementation (a Dataset that builds one-hot rows in a Python loop
    per sample, many-to-one windows of 10 chars, DataLoader batch 8, nn.RNN hidden 64 + Linear, Adam 1e-3) against
    the project's trainer at the same model size (RNN hidden 64, one-hot input), in its course-compatible
    many_to_one mode and in its default many_to_many mode → the ratios;
(b) held-out bits/char of the default config (params.yaml `charrnn`, trained here from scratch) against the
    unigram and Kneser-Ney n-gram baselines on the same test targets. Skip it with --skip-default.

    python benchmarks/charrnn.py [--seconds 20] [--skip-default]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rnnpipe.charrnn.corpus import encode, prepare_corpus
from rnnpipe.charrnn.evaluate import held_out_metrics
from rnnpipe.charrnn.train import train_charrnn
from rnnpipe.core.params import CharRNNParams, load_params
from rnnpipe.core.runtime import configure_determinism

ROOT = Path(__file__).resolve().parents[1]


# --- the course implementation, as written there ----------------------------------------------------------------

class CourseDataset(Dataset):
    def __init__(self, text: str, vocab: list[str], seq_length: int = 10):
        self.text, self.vocab, self.seq_length = text, vocab, seq_length
        self.char_to_idx = {ch: i for i, ch in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.text) - self.seq_length

    def __getitem__(self, idx: int):
        x = torch.zeros(self.seq_length, len(self.vocab))
        for i, ch in enumerate(self.text[idx:idx + self.seq_length]):  # one-hot row by row
            x[i, self.char_to_idx[ch]] = 1
        return x, self.char_to_idx[self.text[idx + self.seq_length]]


class CourseModel(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 64):
        super().__init__()
        self.rnn = nn.RNN(vocab_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x):
        _, h = self.rnn(x)
        return self.fc(h[-1])


def course_targets_per_second(text: str, vocab: list[str], seconds: float) -> float:
    torch.manual_seed(0)
    model = CourseModel(len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(CourseDataset(text, vocab), batch_size=8, shuffle=True)
    start, targets = time.perf_counter(), 0
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        targets += len(y)
        if time.perf_counter() - start > seconds:
            break
    return targets / (time.perf_counter() - start)


def project_targets_per_second(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab: list[str], base: CharRNNParams,
                               **changes) -> float:
    p = base.model_copy(update=changes)
    _, result = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    # FitResult.seconds includes the per-epoch validation: the ratio is conservative.
    return result.targets_seen / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="char-RNN throughput and held-out bits/char")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to time the course loop")
    parser.add_argument("--skip-default", action="store_true", help="skip (b), the default-config training")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    c = params.corpus
    configure_determinism(0)
    corpus = prepare_corpus(c)
    vocab, (train, val, test) = corpus.vocab, corpus.splits.values()
    train_ids, val_ids, test_ids = (encode(t, vocab) for t in (train, val, test))
    print(f"corpus: {corpus.stats['kept_chars']:,} characters, vocabulary {len(vocab)}, "
          f"split {len(train):,}/{len(val):,}/{len(test):,}")

    print("\n(a) training throughput at the course model size (RNN hidden 64, one-hot input)")
    course = course_targets_per_second(train, vocab, args.seconds)
    size = dict(cell="rnn", input="one_hot", hidden_size=64, num_layers=1, dropout=0.0, grad_clip=0.0,
                lr=1e-3, lr_schedule="constant", epochs=1, seed=0)
    sample = train_ids[:200_000]  # one epoch over 200 K characters per measurement
    m2o = project_targets_per_second(sample, val_ids[:5000], vocab, params.charrnn, mode="many_to_one",
                                     seq_length=10, batch_size=8, **size)
    m2m = project_targets_per_second(sample, val_ids[:5000], vocab, params.charrnn, mode="many_to_many",
                                     seq_length=params.charrnn.seq_length, batch_size=params.charrnn.batch_size,
                                     **size)
    print(f"{'implementation':<58} {'targets/s':>12} {'ratio':>8}")
    print(f"{'course: per-sample one-hot Dataset, many-to-one, batch 8':<58} {course:>12,.0f} {1:>8.1f}")
    print(f"{'project, many_to_one, batch 8 (tensor-gathered windows)':<58} {m2o:>12,.0f} {m2o / course:>8.1f}")
    label = f"project, many_to_many, batch {params.charrnn.batch_size}, BPTT {params.charrnn.seq_length}"
    print(f"{label:<58} {m2m:>12,.0f} {m2m / course:>8.1f}")

    if args.skip_default:
        return
    p = params.charrnn
    print(f"\n(b) default config ({p.cell} {p.hidden_size}, {p.mode}, {p.epochs} epochs): held-out bits/char")
    model, result = train_charrnn(train_ids, val_ids, vocab, p, show_progress=False)
    metrics = held_out_metrics(model, p.mode, p.seq_length, train_ids, val_ids, test_ids, len(vocab),
                               params.charrnn_eval.ngram_order)
    print(f"{'model':<36} {'bits/char':>10}")
    print(f"{'char-RNN (default config)':<36} {metrics['bits_per_char']:>10.3f}   "
          f"training {result.seconds:.0f}s, best epoch {result.best_epoch}")
    print(f"{'Kneser-Ney ' + str(metrics['ngram_order']) + '-gram':<36} {metrics['ngram_bits_per_char']:>10.3f}")
    print(f"{'unigram (add-one)':<36} {metrics['unigram_bits_per_char']:>10.3f}")


if __name__ == "__main__":
    main()

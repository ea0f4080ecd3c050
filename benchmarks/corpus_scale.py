"""How the char-RNN's data-bound steps grow with the corpus: seconds and peak memory of prepare, the n-gram fit and
one capped epoch at several multiples of the default corpus's size; every figure is measured in this one run.

    python benchmarks/corpus_scale.py [--scales 1 10 100] [--base-chars 650000] [--chars-per-epoch 100000]
                                      [--val-chars 32500]

The text is made here (seeded): words of Cyrillic syllables drawn with Zipf frequencies, some Latin words, digits,
capitals, punctuation and line breaks, so cleaning has work to do and the n-gram counts grow like a real text's.
--base-chars is the size of scale 1 (the default corpus is about 650 K characters after cleaning). The validation
and test splits hold --val-chars characters each at every scale (the default corpus's 5%), as docs/corpus.md advises
for a big corpus: validation runs every epoch over the whole split, so a split growing with the corpus makes every
epoch grow with it (at the default 5%, 3 M characters of a 65 M-character text).

prepare  the prepare_corpus stage's work: read, clean, split, write data/corpus/.
ngram    the n-gram part's fit (train_charrnn's attach_ngram without the RNN): encode the training text, count the
         charrnn.ngram_order-gram, score the first validation characters the mixture weights are fitted on.
epoch    one epoch of the default char-RNN (params.yaml `charrnn`) capped at --chars-per-epoch training
         characters (charrnn.chars_per_epoch), from encoding the splits to the end of the validation pass.
Each part runs in its own process; its peak memory is that process's maximum resident set (the rusage os.wait4
returns for it). "above idle" subtracts the peak of a process that only loads torch and rnnpipe.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from arguments import ArgumentParser, check_integer, project_params, refuse  # noqa: E402  (benchmarks/, beside this script)

PARTS = ("prepare", "ngram", "epoch")
SYLLABLES = ("ма", "ло", "ре", "ни", "ка", "то", "ве", "сы", "да", "пу", "жи", "ёл", "щу", "ха", "це", "чи", "шо",
             "бе", "зя", "гу", "ты", "ль", "ры", "юн", "эй", "фа", "ст", "пр", "ов", "ен", "ск", "ол", "ий", "ая")
LATIN_WORDS = ("the", "data", "model", "python", "linux", "error", "time", "world", "code", "net")


def make_text(path: Path, n_chars: int, seed: int = 0) -> None:
    """About n_chars characters of seeded word salad, written in blocks so memory stays small at any size."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(SYLLABLES, size=rng.integers(1, 5))) for _ in range(20_000)] + list(LATIN_WORDS)
    words += [str(n) for n in range(100)]
    zipf = 1.0 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    order = rng.permutation(len(words))  # frequent words of every kind, not the syllable words first
    endings = np.array(["", "", "", "", "", "", "", "", ",", ".", "?", "!", ";", " —", ":", "..."])
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < n_chars:
            count = 200_000
            chosen = [words[i] for i in order[rng.choice(len(words), size=count, p=zipf)]]
            ends = endings[rng.integers(0, len(endings), size=count)]
            capital = rng.random(count) < 0.06
            breaks = rng.random(count) < 0.07
            block = "".join((w.capitalize() if c else w) + e + ("\n" if b else " ")
                            for w, e, c, b in zip(chosen, ends.tolist(), capital.tolist(), breaks.tolist()))
            block = block[:n_chars - written]
            handle.write(block)
            written += len(block)


# --- the parts, each in its own process ---------------------------------------------------------------------------

def load(chars_per_epoch: int):
    """params.yaml, its runtime pinned (as every stage does, before torch loads), and the charrnn section of one
    capped epoch without the n-gram part, validated like the file."""
    from rnnpipe.core.errors import ParamsError
    from rnnpipe.params import parse_params
    from rnnpipe.core.numerics import apply_runtime

    params = project_params()
    apply_runtime(params.runtime)
    raw = params.model_dump()
    raw["charrnn"].update(epochs=1, ngram_order=0, chars_per_epoch=chars_per_epoch)
    try:
        charrnn = parse_params(raw).charrnn
    except ParamsError as exc:
        raise ParamsError(str(exc).replace("params.yaml: charrnn.chars_per_epoch", "--chars-per-epoch")) from None
    return params, charrnn


def part(name: str, folder: Path, chars_per_epoch: int, val_chars: int) -> dict:
    params, charrnn = load(chars_per_epoch)
    import numpy as np
    import torch  # noqa: F401  (loaded by every part, so "above idle" compares like with like)

    from rnnpipe.charrnn.corpus import prepare_corpus, read_splits, read_vocab
    from rnnpipe.charrnn.evaluate import CONTEXT_CHARS
    from rnnpipe.charrnn.mixture import FIT_TARGETS
    from rnnpipe.charrnn.ngram import KneserNey
    from rnnpipe.charrnn.train import train_charrnn
    from rnnpipe.core.io import write_json, write_text
    from rnnpipe.core.threads import thread_policy

    corpus_dir = folder / "corpus"
    started = time.perf_counter()
    result: dict = {}
    if name == "prepare":
        raw_chars = len((folder / "text.txt").read_text(encoding="utf-8"))
        held_out = min(val_chars / raw_chars, 0.25)
        c = params.corpus.model_copy(update={"source": "file", "path": str(folder / "text.txt"),
                                             "train_fraction": 1 - 2 * held_out, "val_fraction": held_out,
                                             "test_fraction": held_out})
        corpus = prepare_corpus(c)
        for split, text in corpus.splits.items():
            write_text(corpus_dir / f"{split}.txt", text)
        write_json(corpus_dir / "vocab.json", {"vocab": corpus.vocab, "source": c.source, "files": corpus.files})
        result["train_chars"] = corpus.stats["train_chars"]
    elif name == "ngram":
        vocab = read_vocab(corpus_dir)
        train_ids, val_ids = read_splits(corpus_dir, ("train", "val"), vocab)
        order = params.charrnn.ngram_order or 10
        context = train_ids[-CONTEXT_CHARS:]
        stream = torch.cat([context, val_ids[:FIT_TARGETS]]).numpy()
        ngram = KneserNey(train_ids.numpy(), order, len(vocab))
        scored = ngram.distributions(stream, np.arange(len(context), len(stream)))
        result.update(order=order, scored=len(scored))
    elif name == "epoch":
        vocab = read_vocab(corpus_dir)
        train_ids, val_ids = read_splits(corpus_dir, ("train", "val"), vocab)
        _, fit = train_charrnn(train_ids, val_ids, vocab, charrnn, show_progress=False,
                               threads=thread_policy(params.runtime))  # as the stage: a busy machine stalls threads
        result.update(targets=fit.targets_seen, val_chars=len(val_ids))
    elif name != "idle":
        raise ValueError(f"unknown part {name!r}")
    result["seconds"] = time.perf_counter() - started
    return result


def in_child(name: str, folder: Path, chars_per_epoch: int, val_chars: int) -> dict:
    """Run a part in a fresh process; its figures, and its peak resident memory in bytes."""
    command = [sys.executable, __file__, "--part", name, "--dir", str(folder),
               "--chars-per-epoch", str(chars_per_epoch), "--val-chars", str(val_chars)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage: its peak, no other child's
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"error: part {name} failed ({process.returncode}): "
                             f"{err.read().decode(errors='replace').strip()[-2000:]}")
        row = json.loads(out.read().decode().strip().splitlines()[-1])
    row["peak_bytes"] = usage.ru_maxrss * 1024  # Linux reports kilobytes
    return row


# --- the table -----------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--base-chars", type=int, default=650_000)
    parser.add_argument("--chars-per-epoch", type=int, default=100_000)
    parser.add_argument("--val-chars", type=int, default=32_500)
    parser.add_argument("--part", choices=PARTS + ("idle",), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        print(json.dumps(part(args.part, args.dir, args.chars_per_epoch, args.val_chars)))
        return
    for scale in args.scales:
        check_integer("--scales", scale)
    check_integer("--base-chars", args.base_chars, 1000)
    check_integer("--val-chars", args.val_chars, 1, (args.base_chars - 1) // 2,
                  allowed=f"an integer from 1 to {(args.base_chars - 1) // 2}, under half of --base-chars "
                          f"{args.base_chars} (validation and test each hold --val-chars characters)")
    scales = sorted(set(args.scales))

    params, charrnn = load(args.chars_per_epoch)  # validates the cap against params.yaml's charrnn, in one line
    print(f"corpus scale: prepare, {params.charrnn.ngram_order or 10}-gram fit and one epoch of the default char-RNN "
          f"({charrnn.cell} {charrnn.hidden_size}, charrnn.chars_per_epoch: {args.chars_per_epoch:,}) at "
          f"{', '.join(f'{s}x' for s in scales)} of {args.base_chars:,} characters; each part in its own process")
    rows: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="corpus_scale.") as temporary:
        idle = in_child("idle", Path(temporary), args.chars_per_epoch, args.val_chars)["peak_bytes"]
        print(f"idle process (python, torch, rnnpipe): {idle / 2**20:,.0f} MB peak")
        for scale in scales:
            folder = Path(temporary) / f"x{scale}"
            folder.mkdir()
            made = time.perf_counter()
            make_text(folder / "text.txt", args.base_chars * scale)
            print(f"{scale}x: made {args.base_chars * scale:,} characters "
                  f"({(folder / 'text.txt').stat().st_size / 2**20:,.1f} MB) in {time.perf_counter() - made:.1f} s",
                  flush=True)
            for name in PARTS:
                rows[name, scale] = in_child(name, folder, args.chars_per_epoch, args.val_chars)
            for path in folder.rglob("*.txt"):
                path.unlink()  # the next, larger scale needs the room more

    first = scales[0]
    print(f"\n{'part':<8} {'scale':>6} {'seconds':>9} {'peak MB':>9} {'above idle MB':>14} "
          f"{'seconds ratio':>14} {'above-idle ratio':>17} {'corpus ratio':>13}")
    for name in PARTS:
        for scale in scales:
            row = rows[name, scale]
            above = max(row["peak_bytes"] - idle, 0)
            base = rows[name, first]
            base_above = max(base["peak_bytes"] - idle, 1)
            print(f"{name:<8} {f'{scale}x':>6} {row['seconds']:>9.2f} {row['peak_bytes'] / 2**20:>9,.0f} "
                  f"{above / 2**20:>14,.0f} {row['seconds'] / base['seconds']:>14.2f} "
                  f"{above / base_above:>17.2f} {scale / first:>13.0f}")
    epoch = rows["epoch", scales[-1]]
    print(f"\nepoch: {epoch['targets']:,} training targets at every scale (the cap), then validation over the "
          f"{epoch['val_chars']:,} characters of the validation split")
    if len(scales) > 1:
        last = scales[-1]
        print(f"growth from {first}x to {last}x (corpus x{last / first:.0f}); cost per character relative to {first}x: "
              "1.00 is linear, below is better")
        for name in PARTS:
            seconds = rows[name, last]["seconds"] / rows[name, first]["seconds"]
            memory = max(rows[name, last]["peak_bytes"] - idle, 0) / max(rows[name, first]["peak_bytes"] - idle, 1)
            print(f"  {name:<8} seconds x{seconds:.1f} (per character {seconds * first / last:.2f}), memory above idle "
                  f"x{memory:.1f} (per character {memory * first / last:.2f})")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a bad --chars-per-epoch for params.yaml's charrnn: one line
        from rnnpipe.core.errors import RnnpipeError

        if not isinstance(exc, RnnpipeError):
            raise
        refuse(str(exc))

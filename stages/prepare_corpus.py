"""Stage prepare_corpus: read the chosen source, clean it, split it → data/corpus/, metrics/corpus.json."""
import sys

from rnnpipe.cli import run_stage
from rnnpipe.corpus import build_vocab, clean_text, corpus_stats, load_source, split_text
from rnnpipe.errors import CorpusError
from rnnpipe.io import write_json, write_text
from rnnpipe.params import load_params


def main(out_dir: str = "data/corpus", metrics_path: str = "metrics/corpus.json") -> None:
    c = load_params().corpus
    raw, files = load_source(c.source, c.path, c.fortunes_files, c.seed if c.shuffle_entries else None)
    cleaned = clean_text(raw)
    if not cleaned.text:
        raise CorpusError(f"nothing is left of the corpus at {c.path} after cleaning: it needs Cyrillic or "
                          "Latin letters, digits or .,?;:")
    vocab = build_vocab(cleaned.text)
    train, val, test = split_text(cleaned.text, c.train_fraction, c.val_fraction)
    if not val or not test:
        raise CorpusError(f"the cleaned corpus has only {len(cleaned.text)} characters: too few for a "
                          f"non-empty validation and test split")
    for name, part in (("train", train), ("val", val), ("test", test)):
        write_text(f"{out_dir}/{name}.txt", part)
    write_json(f"{out_dir}/vocab.json", {"vocab": vocab, "source": c.source, "files": files})
    stats = corpus_stats(cleaned, len(raw), vocab)
    stats.update({"train_chars": len(train), "val_chars": len(val), "test_chars": len(test)})
    write_json(metrics_path, stats)
    print(f"corpus: {len(raw)} raw → {len(cleaned.text)} clean characters, vocabulary {len(vocab)}, "
          f"split {len(train)}/{len(val)}/{len(test)}")


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

"""Stage prepare_corpus: read the chosen source, clean it, split it → data/corpus/, metrics/corpus.json."""
from rnnpipe.charrnn.corpus import prepare_corpus
from rnnpipe.core.io import write_json, write_text
from rnnpipe.params import Params


def main(params: Params, out_dir: str = "data/corpus", report_path: str = "reports/corpus.json") -> None:
    c = params.corpus
    corpus = prepare_corpus(c)
    for name, part in corpus.splits.items():
        write_text(f"{out_dir}/{name}.txt", part)
    write_json(f"{out_dir}/vocab.json", {"vocab": corpus.vocab, "source": c.source, "files": corpus.files})
    write_json(report_path, corpus.stats)
    s = corpus.stats
    print(f"corpus: {s['raw_chars']} raw → {s['kept_chars']} clean characters, vocabulary {s['vocab_size']}, "
          f"split {s['train_chars']}/{s['val_chars']}/{s['test_chars']}")

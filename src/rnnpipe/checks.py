"""What can be checked from params.yaml and the inputs alone, checked before any work.

The stage check_params runs this first in every `dvc repro`, and command 1 (scripts/run_pipeline.sh) before it
calls `dvc repro`: every key of params.yaml, the CPU against runtime.isa, the corpus (readable, non-empty after
cleaning, long enough for one batch of char-RNN training windows) and the prompt against the corpus's cleaned
vocabulary. So a problem that would stop a stage after minutes of training is one line in the first second.

    python -m rnnpipe.checks [PARAMS]   # exit 0 and one summary line, or exit 1 and one `error:` line

Every param is a dependency of check_params, so it reruns for every experiment, also when only a forecaster param
changed. The corpus checks (read, clean and split the corpus) are what costs time, so a passed corpus check is
remembered under .dvc/tmp/checks/ of the repository (of the parent repository in a `dvc exp run --temp`
copy), keyed on everything it reads: the corpus, charrnn and generate params, the bytes and names of every file under
corpus.path, rnnpipe's source and the Python, torch and numpy versions. Only a pass is remembered; a refusal is
found again each time, so no bad input gets past this stage that would not without the record.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Optional

from rnnpipe.core.params import PARAMS_FILE, shown_path
from rnnpipe.params import Params, load_params
from rnnpipe.core.cpu import check_supported


def check_inputs(params: Params, source: str = PARAMS_FILE) -> str:
    """Raises a one-line RnnpipeError on the first problem; returns what was checked, in one line (`source`: the
    params file's name)."""
    check_supported(params.runtime.isa)
    checked = f"checks: {source}, runtime.isa {params.runtime.isa}, "
    record = passed_record(params)
    if record is not None and record.is_file():
        return checked + record.read_text(encoding="utf-8")
    summary = check_corpus(params)
    if record is not None:
        from rnnpipe.core.io import write_text

        from rnnpipe.core.errors import RnnpipeError

        try:
            write_text(record, summary)
        except (OSError, RnnpipeError):  # a read-only or full disk: the check passed, only it is not remembered
            pass
    return checked + summary


def check_corpus(params: Params) -> str:
    """The corpus, the char-RNN's training windows and the prompt: the checks that read files. Only sentence-bounded
    windows (charrnn many_to_one with sentence_windows) are looked for in the encoded text, with torch."""
    from rnnpipe.charrnn.corpus import prepare_corpus
    from rnnpipe.charrnn.inputs import check_split_lengths, clean_prompt

    corpus = prepare_corpus(params.corpus)
    p = params.charrnn
    if p.mode == "many_to_one" and p.sentence_windows:
        from rnnpipe.charrnn.corpus import encode
        from rnnpipe.charrnn.train import check_trainable

        check_trainable(encode(corpus.splits["train"], corpus.vocab), len(corpus.splits["val"]), p, corpus.vocab)
    else:
        check_split_lengths(len(corpus.splits["train"]), len(corpus.splits["val"]), p)
    prompt = clean_prompt(params.generate.prompt, corpus.vocab)
    return (f"corpus {corpus.stats['kept_chars']:,} characters (vocabulary {len(corpus.vocab)}), prompt {prompt!r}: "
            "all fine")


def passed_record(params: Params, root: Optional[Path] = None) -> Optional[Path]:
    """Where a passed corpus check with these inputs is remembered; None where it cannot be (no .dvc folder, an
    input that cannot be read: then the full check runs and says what is wrong)."""
    root = Path(root or os.environ.get("DVC_ROOT") or os.getcwd())
    if not (root / ".dvc").is_dir():
        return None
    try:
        key = corpus_check_key(params)
    except (OSError, ValueError):
        return None
    return root / ".dvc" / "tmp" / "checks" / f"{key}.txt"


def corpus_check_key(params: Params) -> str:
    """A digest of everything check_corpus reads."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    settings = {"corpus": params.corpus.model_dump(mode="json"), "charrnn": params.charrnn.model_dump(mode="json"),
                "generate": params.generate.model_dump(mode="json"), "python": sys.version}
    for package in ("torch", "numpy"):
        try:
            settings[package] = version(package)
        except PackageNotFoundError:
            settings[package] = None
    digest.update(json.dumps(settings, sort_keys=True).encode())
    package_dir = Path(__file__).resolve().parent
    for source in sorted(package_dir.rglob("*.py")):
        digest_file(digest, source.relative_to(package_dir).as_posix(), source)
    corpus = Path(params.corpus.path)
    if corpus.is_dir():
        files = sorted(path for path in corpus.rglob("*") if path.is_file())
        for path in files:
            digest_file(digest, "corpus/" + path.relative_to(corpus).as_posix(), path)
    elif corpus.is_file():
        digest_file(digest, "corpus", corpus)
    else:  # missing, or a device or pipe that reading could block on: no record, the full check names it
        raise ValueError(f"{corpus} is not a regular file")
    return digest.hexdigest()


def digest_file(digest: "hashlib._Hash", name: str, path: Path) -> None:
    digest.update(f"\0{name}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def main(path: str | Path = "params.yaml") -> None:
    # No numerics set up here: the checks compute no output bytes, so the libraries' code paths do not matter.
    from rnnpipe.core.errors import run_stage

    run_stage(lambda: print(check_inputs(load_params(path), shown_path(path))))


if __name__ == "__main__":
    if sys.argv[1:] in (["-h"], ["--help"]):
        print("usage: python -m rnnpipe.checks [PARAMS]\n\n" + "\n\n".join((__doc__ or "").split("\n\n")[:3]))
        sys.exit(0)
    if len(sys.argv) > 2 or sys.argv[1:2] and sys.argv[1].startswith("-"):
        sys.exit(f"error: arguments {' '.join(sys.argv[1:])!r} are invalid: allowed is at most one params file "
                 "(python -m rnnpipe.checks [params.yaml])")
    main(*sys.argv[1:])

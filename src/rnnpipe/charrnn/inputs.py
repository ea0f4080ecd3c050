"""The char-RNN's inputs checked before any work, without torch: the prompt against a vocabulary, the corpus's
split lengths against the training windows. check_params runs these on every `dvc repro`; the stages run them
again on what they read."""
from __future__ import annotations

from typing import Optional, Sequence

from rnnpipe.charrnn.corpus import clean_text
from rnnpipe.charrnn.params import CharRNNParams
from rnnpipe.core.errors import CorpusError, GenerationError


def check_prompt(prompt: str, vocab: Sequence[str], given: Optional[str] = None) -> None:
    missing = sorted(set(prompt) - set(vocab))
    if missing:
        cleaned = f" (cleaned like the corpus: {prompt!r})" if given is not None and given != prompt else ""
        raise GenerationError(f"generate.prompt = {given if given is not None else prompt!r}{cleaned} has "
                              f"characters outside the vocabulary: {''.join(missing)!r}; allowed are "
                              f"{''.join(vocab)!r}")


def clean_prompt(prompt: str, vocab: Sequence[str]) -> str:
    """The prompt cleaned exactly as the corpus was (lowercase, one space per run of whitespace, the symbols the
    corpus drops dropped; a leading or trailing space kept), then checked against the model's vocabulary."""
    cleaned = clean_text(prompt, strip=False).text
    if not cleaned.strip():
        raise GenerationError(f"generate.prompt = {prompt!r}: nothing is left after cleaning it like the corpus; "
                              "allowed are letters, digits and .,?;:")
    check_prompt(cleaned, vocab, given=prompt)
    return cleaned


def least_training_chars(p: CharRNNParams) -> int:
    """The shortest training split that gives one batch of training windows."""
    return p.seq_length + (p.batch_size if p.mode == "many_to_many" else 1) + 1


def check_split_lengths(n_train: int, n_val: int, p: CharRNNParams) -> None:
    """A training split too short for one batch of training windows, or an empty validation split, is a user error,
    reported before any training."""
    needed = least_training_chars(p)
    if n_train < needed:
        raise CorpusError(f"the corpus training split has {n_train} characters: charrnn.seq_length = "
                          f"{p.seq_length} and batch_size = {p.batch_size} need at least {needed} "
                          "(use a longer text or smaller values)")
    if n_val < 1:
        raise CorpusError("the corpus validation split is empty: use a longer text or a larger "
                          "corpus.val_fraction")

"""Corpus sources, cleaning, vocabulary, encoding and splits.

Cleaning keeps what the course meant to keep, correctly: Cyrillic letters including ё/Ё (the course's `А-я`
range drops them), Latin letters (its `A-z` range also lets in ``[\\]^_` ``), digits, `.,?;:` and space.
Text is lowercased; every run of whitespace becomes one space.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rnnpipe.core.errors import CorpusError, DataError, first_line, restore_hint
from rnnpipe.core.io import read_json
from rnnpipe.charrnn.params import CorpusParams, CorpusSource

if TYPE_CHECKING:  # torch loads only where text is encoded: reading, cleaning and splitting run without it
    import torch

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
LATIN = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
PUNCTUATION = ".,?;: "
ALLOWED = frozenset(CYRILLIC + LATIN + DIGITS + PUNCTUATION)
_WHITESPACE = re.compile(r"\s+")
_SPACES = re.compile(r" {2,}")


# --- reading ----------------------------------------------------------------------------------------------------

def read_text_file(path: str | Path) -> str:
    """Strict UTF-8: a bad byte is an error naming its offset, never silently replaced."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus path not found: {path}")
    if not path.is_file():
        raise CorpusError(f"corpus path is not a file: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise CorpusError(f"corpus file is empty: {path}")
    wide = wide_unicode(data)
    if wide is not None:
        encoding, bom = wide
        raise CorpusError(f"corpus file {path} is {encoding} text ({'with' if bom else 'without'} a byte order mark), "
                          f"not UTF-8; convert it: iconv -f {encoding} -t UTF-8 {path} > {path.stem}.utf8.txt")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"corpus file looks binary (NUL byte at offset {nul}): {path}; "
                          "allowed are UTF-8 text files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus file is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                          f"in {path}; convert it to UTF-8 (e.g. iconv -f cp1251 -t utf-8)") from None


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe", "UTF-16LE"),
         (b"\xfe\xff", "UTF-16BE"))


def wide_unicode(data: bytes) -> tuple[str, bool] | None:
    """(encoding, has a BOM) when the bytes are UTF-16 or UTF-32 text, else None.

    With a byte order mark that is certain. Without one: the bytes must decode cleanly into text of the alphabets a
    corpus is written in (Latin, Greek, Cyrillic, whitespace, punctuation), which binary data, UTF-8 text or the
    same text read with the wrong byte order practically never does.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, True
    for encoding, width in (("UTF-32LE", 4), ("UTF-32BE", 4), ("UTF-16LE", 2), ("UTF-16BE", 2)):
        if len(data) % width or b"\x00" not in data:
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        plausible = sum(ch.isspace() or " " <= ch < "\u0530" or "\u2000" <= ch < "\u2070" for ch in text)
        if plausible >= 0.95 * len(text) and sum(ch.isalpha() for ch in text) >= 0.3 * len(text):
            return encoding, False
    return None


def parse_fortunes(text: str) -> list[str]:
    """Entries of a fortune file: separated by lines holding only `%`; `-- author` attribution lines dropped."""
    entries, lines = [], []
    for line in text.splitlines() + ["%"]:
        if line.strip() == "%":
            entry = "\n".join(lines).strip()
            if entry:
                entries.append(entry)
            lines = []
        elif not (line[:1].isspace() and line.lstrip().startswith("--")):
            lines.append(line)
    return entries


def text_files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.txt") if p.is_file())


def load_source(source: CorpusSource, path: str | Path, fortunes_files: Sequence[str] = (),
                shuffle_seed: int | None = None) -> tuple[str, list[str]]:
    """Raw text of a corpus source and the files it came from (relative names, for the record).

    fortunes-ru with shuffle_seed: the quotes are independent, so they are put in a seeded random order before
    the contiguous split; otherwise the test split would be the last topic file alone. Files and folders of
    your own text keep their order (a novel is not shuffled).
    """
    path = Path(path)
    if source == "fortunes-ru":
        if not path.is_dir():
            raise CorpusError(f"fortunes-ru folder not found: {path}; install it with `apt-get install -y "
                              "fortunes-ru` (as root) or set corpus.source to file or dir with your own text")
        texts = []
        for name in fortunes_files:
            if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
                # The stage depends on this folder: a file outside it would be read without DVC tracking it.
                raise CorpusError(f"corpus.fortunes_files: {name!r} is not a plain file name; allowed are names of "
                                  f"files in {path}")
            file = path / name
            if not file.is_file():
                available = sorted(p.name for p in path.iterdir() if p.is_file() and "." not in p.name)
                raise CorpusError(f"corpus.fortunes_files: {name!r} is not in {path}; available: "
                                  f"{', '.join(available[:40])}{' ...' if len(available) > 40 else ''}")
            texts.extend(parse_fortunes(read_text_file(file)))
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(texts)
        return " ".join(texts), list(fortunes_files)
    if source == "file":
        return read_text_file(path), [path.name]
    if source == "dir":
        if not path.is_dir():
            raise CorpusError(f"corpus folder not found: {path}")
        files = text_files_in(path)
        if not files:
            raise CorpusError(f"corpus folder has no .txt files: {path}")
        return " ".join(read_text_file(f) for f in files), [str(f.relative_to(path)) for f in files]
    raise CorpusError(f"corpus.source = {source!r}: allowed is fortunes-ru, file or dir")


# --- cleaning ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CleanedText:
    text: str
    removed: Counter  # symbol → how many times it was dropped (whitespace excluded: it becomes a space)


def clean_text(raw: str, strip: bool = True) -> CleanedText:
    """strip=False keeps a leading or trailing space (a prompt's last space says "a new word comes next")."""
    lowered = _WHITESPACE.sub(" ", raw.replace("\ufeff", "").lower())
    # Whole-string operations only: iterating a str makes one object per character, which for a 65 M-character
    # corpus took minutes and GBs. Code points are counted as one array, and one regex deletes what is dropped.
    codes = code_points(lowered)
    counts = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    removed = Counter({chr(c): int(counts[c]) for c in np.flatnonzero(counts).tolist() if chr(c) not in ALLOWED})
    if removed:
        lowered = re.sub(f"[{re.escape(''.join(removed))}]+", "", lowered)
    kept = _SPACES.sub(" ", lowered)
    return CleanedText(kept.strip() if strip else kept, removed)


# --- vocabulary, encoding, splits -------------------------------------------------------------------------------

def build_vocab(text: str) -> list[str]:
    """The text's distinct characters, sorted (by code point, as sorted(set(text)) sorts them)."""
    codes = code_points(text)
    return [chr(c) for c in np.flatnonzero(np.bincount(codes)).tolist()] if len(codes) else []


def code_points(text: str) -> np.ndarray:
    """The text's code points as one uint32 array, without a Python object per character."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")


def encode(text: str, vocab: Sequence[str]) -> torch.Tensor:
    """Vocabulary ids (int64) of the text's characters, looked up for all of them at once."""
    import torch

    codes = code_points(text)
    present = [chr(c) for c in np.flatnonzero(np.bincount(codes)).tolist()] if len(codes) else []
    missing = sorted(set(present) - set(vocab))
    if missing:
        raise CorpusError(f"characters not in the vocabulary: {''.join(missing)!r}")
    table = np.zeros(max(map(ord, present), default=0) + 1, dtype=np.int64)
    for i, ch in enumerate(vocab):
        if ord(ch) < len(table):
            table[ord(ch)] = i
    return torch.from_numpy(table[codes])


def split_text(text: str, train_fraction: float, val_fraction: float) -> tuple[str, str, str]:
    """Contiguous train | val | test split by fraction (test takes the rest)."""
    n = len(text)
    train_end = int(round(n * train_fraction))
    val_end = int(round(n * (train_fraction + val_fraction)))
    return text[:train_end], text[train_end:val_end], text[val_end:]


def corpus_stats(cleaned: CleanedText, raw_length: int, vocab: Sequence[str], top: int = 15) -> dict:
    return {
        "raw_chars": raw_length,
        "kept_chars": len(cleaned.text),
        "removed_chars": sum(cleaned.removed.values()),
        "vocab_size": len(vocab),
        "top_removed": {ch: n for ch, n in sorted(cleaned.removed.items(), key=lambda kv: (-kv[1], kv[0]))[:top]},
    }


# --- what prepare_corpus writes, and how later stages read it back ----------------------------------------------

@dataclass(frozen=True)
class PreparedCorpus:
    splits: dict[str, str]   # train, val, test
    vocab: list[str]
    files: list[str]         # where the text came from (relative names)
    stats: dict


def prepare_corpus(c: CorpusParams) -> PreparedCorpus:
    """Read the chosen source, clean it, split it; every way it can fail is one CorpusError line."""
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
    stats = corpus_stats(cleaned, len(raw), vocab)
    stats.update({"train_chars": len(train), "val_chars": len(val), "test_chars": len(test)})
    return PreparedCorpus({"train": train, "val": val, "test": test}, vocab, files, stats)


def read_vocab(corpus_dir: str | Path) -> list[str]:
    """The vocabulary prepare_corpus wrote (vocab.json): a list of distinct characters, or one line saying what is
    wrong with the file and how to restore it."""
    path = Path(corpus_dir, "vocab.json")
    try:
        raw = read_json(path)
    except ValueError as exc:  # not UTF-8, not JSON
        raise DataError(f"{path}: not JSON ({first_line(exc)[:120]}); {restore_hint(path, 'prepare_corpus')}") from None
    vocab = raw.get("vocab") if isinstance(raw, dict) else None
    if not (isinstance(vocab, list) and vocab and all(isinstance(ch, str) and len(ch) == 1 for ch in vocab)
            and len(set(vocab)) == len(vocab)):
        raise DataError(f"{path}: its 'vocab' is not a list of distinct characters; "
                        f"{restore_hint(path, 'prepare_corpus')}")
    return vocab


def read_splits(corpus_dir: str | Path, names: Sequence[str], vocab: Sequence[str]) -> list[torch.Tensor]:
    """The named splits of a prepared corpus as id tensors. prepare_corpus writes every split non-empty, in the
    corpus's vocabulary: a split that is not is one line naming the file and how to restore it."""
    splits = []
    for name in names:
        path = Path(corpus_dir, f"{name}.txt")
        try:
            text = path.read_text(encoding="utf-8")
            if not text:
                raise CorpusError("the split is empty")
            splits.append(encode(text, vocab))
        except (UnicodeDecodeError, CorpusError) as exc:
            problem = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise DataError(f"{path}: {problem[:160]}; {restore_hint(path, 'prepare_corpus')}") from None
    return splits

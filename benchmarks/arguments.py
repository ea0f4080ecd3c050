"""What the benchmarks' command lines share: a bad argument is one line on stderr (`error: ...`) naming the value and
what is allowed, and exit code 2, before any measurement starts; `--set` and `--corpus` read as every benchmark
reads them."""
from __future__ import annotations

import math
from pathlib import Path
from typing import NoReturn, Sequence

from rnnpipe.cli import OneLineParser, refuse

ArgumentParser = OneLineParser  # argparse's own errors in one line too
ROOT = Path(__file__).resolve().parents[1]


def refuse_value(flag: str, value: object, allowed: str) -> NoReturn:
    shown = f"{value:g}" if isinstance(value, float) else value
    refuse(f"{flag} = {shown} is invalid: allowed is {allowed}")


def check_integer(flag: str, value: int, low: int = 1, high: int | None = None, allowed: str | None = None) -> None:
    """`value` in [low, high] (no upper end when high is None), or refused naming `allowed` (by default the range)."""
    if value < low or (high is not None and value > high):
        refuse_value(flag, value, allowed or (f"an integer >= {low}" if high is None
                                              else f"an integer from {low} to {high}"))


def check_seconds(flag: str, value: float, high: float) -> None:
    """A duration in (0, high]: zero, a negative number, nan or inf is refused."""
    if not (math.isfinite(value) and 0 < value <= high):
        refuse_value(flag, value, f"a number of seconds in (0, {high:g}]")


def project_params(sets: Sequence[str] = (), corpus: str | None = None):
    """The project's params.yaml (beside benchmarks/) with the `--set` overrides and `--corpus`, validated like the
    file: a problem is a ParamsError naming it; a --corpus path that is no file is refused here (with_corpus)."""
    from rnnpipe.params import load_params

    params = load_params(ROOT / "params.yaml")
    return with_corpus(with_sets(params, list(sets)) if sets else params, corpus)


def with_sets(params, pairs: list[str]):
    """params.yaml with `--set SECTION.KEY=VALUE` overrides (as `dvc exp run -S`), validated like the file."""
    import yaml

    from rnnpipe.core.errors import ParamsError
    from rnnpipe.core.params import first_error
    from rnnpipe.params import Params
    from pydantic import ValidationError

    raw = params.model_dump()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ParamsError(f"--set {pair!r}: expected SECTION.KEY=VALUE, e.g. charrnn.epochs=10")
        if section not in raw:
            raise ParamsError(f"--set {pair!r}: unknown section '{section}': allowed are {', '.join(raw)}")
        try:
            raw[section][name] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ParamsError(f"--set {pair!r}: the value is not valid YAML ({problem}): allowed is a YAML value, "
                              "as `dvc exp run -S` reads it, e.g. charrnn.lr=0.002 or charrnn.cell=lstm") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(first_error(Params, exc, source="--set")) from None


def with_corpus(params, corpus: str | None):
    """params with `--corpus FILE` as its corpus (corpus.source: file); None: params.yaml's own corpus. A path that
    is no file is refused here, before torch loads; what is in the file, prepared_corpus checks."""
    if corpus is None:
        return params
    if not Path(corpus).is_file():
        problem = ("an empty path" if not corpus.strip() else "a folder" if Path(corpus).is_dir()
                   else "not found" if not Path(corpus).exists() else "not a regular file")
        refuse(f"--corpus = {corpus!r} is invalid ({problem}): allowed is a UTF-8 text file")
    return params.model_copy(update={"corpus": params.corpus.model_copy(update={"source": "file", "path": corpus})})


def prepared_corpus(params, corpus: str | None):
    """The corpus params names (prepare_corpus: read, cleaned, split); when it came from `--corpus`, a file that
    cannot be used (not found, a folder, empty, not UTF-8, nothing left after cleaning) is a CorpusError naming the
    flag."""
    from rnnpipe.charrnn.corpus import prepare_corpus
    from rnnpipe.core.errors import CorpusError

    try:
        return prepare_corpus(params.corpus)
    except CorpusError as exc:
        if corpus is None:
            raise
        raise CorpusError(f"--corpus: {exc}") from None

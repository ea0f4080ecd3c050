"""I/O at the edges: atomic writes, safe checkpoint loading, hashing.

Every output is written to a temporary file in the destination folder, flushed to disk and renamed into place, so
a stage killed mid-way (SIGINT or SIGKILL) or a machine that loses power never leaves a half-written file that DVC
could cache. A write the system refuses (disk full, no permission, a file where a folder should be) is an OutputError
naming the destination, and the file that was there stays as it was.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from rnnpipe.core.errors import CheckpointError, RnnpipeError, first_line

if TYPE_CHECKING:
    import torch


class OutputError(RnnpipeError):
    """An output the system would not let us write; the message names the output, not the temporary file."""


def output_error(path: Path, exc: OSError, tmp_path: Path | None) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    # A folder on the way (a file where it should be) is worth naming; the temporary file is not.
    culprit = exc.filename if exc.filename is not None and Path(exc.filename) not in (path, tmp_path) else None
    where = f" ({culprit})" if culprit is not None else ""
    return OutputError(f"cannot write {path}: {reason}{where}; the file that was there, if any, is unchanged")


def fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot sync a folder; the file itself is on disk by then.
        if not directory or exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed.

    The new bytes reach the disk before the rename and the rename reaches it before we return: after a crash the
    path holds the old file or the whole new one. An OSError on the way (the body's included: it is writing this
    output) becomes an OutputError naming `path`.
    """
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        fsync_path(tmp_path)
        os.replace(tmp_path, path)
        fsync_path(path.parent, directory=True)
    except OSError as exc:
        raise output_error(path, exc, tmp_path) from None
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Deterministic JSON: sorted keys, fixed indentation, UTF-8 kept readable."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_results(metrics_path: str | Path, report_path: str | Path, figures: dict[str, Any],
                  results: tuple[str, ...]) -> None:
    """Results (the figures a run is judged by) to the DVC metrics file, everything else to the report beside it,
    so `dvc metrics show` and `dvc exp show` stay readable and the diagnostics stay an output."""
    write_json(metrics_path, {key: figures[key] for key in results})
    write_json(report_path, {key: value for key, value in figures.items() if key not in results})


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path: str | Path, frame: Any) -> None:
    """pandas DataFrame → CSV with a fixed float format, so reruns are byte-identical."""
    write_text(path, frame.to_csv(index=False, float_format="%.8g", lineterminator="\n"))


def save_figure(path: str | Path, figure: Any) -> None:
    # No Software/date metadata: the PNG bytes depend only on what is drawn.
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: list[str | Path], algorithm: str = "md5") -> str:
    """One digest for several files (in order): the digest of their digests."""
    return hashlib.new(algorithm, "".join(file_digest(p, algorithm) for p in paths).encode()).hexdigest()


def save_checkpoint(path: str | Path, config: dict[str, Any], state_dict: dict[str, "torch.Tensor"]) -> None:
    """A checkpoint is plain data (a config of str/int/float/list and tensors): loadable with weights_only=True."""
    import torch

    # Serialise in memory: torch.save names the zip's records after the file, and the temporary file's name is
    # random, which would make identical weights hash differently.
    buffer = io.BytesIO()
    torch.save({"config": config, "state_dict": state_dict}, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, "torch.Tensor"]]:
    """Load a checkpoint without running pickled code: anything but tensors and plain data is refused.

    Every failure is a CheckpointError saying what is wrong with the file (missing, empty, damaged, carrying code,
    not an rnnpipe checkpoint); rnnpipe.core.checkpoint.load_model adds what to do about it.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is missing")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = re.search(r"GLOBAL (\S+)", str(exc))
        if blocked is None:
            raise CheckpointError(f"checkpoint {path} is damaged: not a torch file ({first_line(exc)[:120]})") from None
        raise CheckpointError(f"refusing to load checkpoint {path}: loading it would call {blocked.group(1)} "
                              "(pickled code, not plain data); only checkpoints of tensors and plain values are "
                              "accepted") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, OSError... for damaged files
        raise CheckpointError(f"checkpoint {path} is damaged: not a complete torch file "
                              f"({type(exc).__name__}: {first_line(exc)[:120]})") from None
    if not isinstance(payload, dict) or set(payload) != {"config", "state_dict"}:
        raise CheckpointError(f"checkpoint {path} is not an rnnpipe checkpoint (a config and a state_dict)")
    return payload["config"], payload["state_dict"]

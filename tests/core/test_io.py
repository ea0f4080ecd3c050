"""Tests for atomic writes, deterministic JSON/CSV, hashing and safe checkpoint loading (rnnpipe.core.io)."""
from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import pickle
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import torch

from rnnpipe.core.errors import CheckpointError
from rnnpipe.core.io import (
    OutputError,
    atomic_path,
    file_digest,
    load_checkpoint,
    read_json,
    save_checkpoint,
    write_csv,
    write_bytes,
    write_json,
    write_text,
)

torch.set_num_threads(1)


# --- atomic writes ------------------------------------------------------------------------------------------------

def test_atomic_path_replaces_the_file_on_success_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new", encoding="utf-8")
        assert not target.exists()  # nothing visible until the body succeeds
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_atomic_path_keeps_the_old_content_and_no_temp_when_the_body_raises(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="killed mid-way"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half writ")
            raise RuntimeError("killed mid-way")
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_atomic_path_creates_no_file_when_the_first_write_fails(tmp_path):
    target = tmp_path / "never.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str = "64k") -> Iterator[Path]:
    """A real, tiny file system at `folder` (a full disk on demand); skips the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                 capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()[:120]}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_one_line_naming_the_output_and_the_old_file_stays(tmp_path):
    with mounted_tmpfs(tmp_path / "disk") as disk:
        target = disk / "data" / "train.txt"
        write_text(target, "old content")
        with pytest.raises(OutputError) as info:
            write_bytes(target, b"x" * 200_000)  # more than the 64 KB file system holds: a partial write first
        message = str(info.value)
        assert message == (f"cannot write {target}: No space left on device; the file that was there, if any, "
                           "is unchanged")
        assert target.read_text(encoding="utf-8") == "old content"
        assert sorted(p.name for p in target.parent.iterdir()) == ["train.txt"]


def test_a_file_where_the_folder_should_be_is_one_line_naming_the_output(tmp_path):
    (tmp_path / "models").write_text("a file, not a folder")
    target = tmp_path / "models" / "charrnn" / "model.pt"
    with pytest.raises(OutputError) as info:
        write_bytes(target, b"weights")
    assert str(info.value) == (f"cannot write {target}: Not a directory ({target.parent}); the file that was there, "
                               "if any, is unchanged")
    with pytest.raises(OutputError) as info:
        write_json(tmp_path / "models" / "a.json", {})
    assert str(info.value).startswith(f"cannot write {tmp_path / 'models' / 'a.json'}: File exists "
                                      f"({tmp_path / 'models'})")
    assert (tmp_path / "models").read_text() == "a file, not a folder"


def test_the_bytes_and_the_rename_reach_the_disk_before_write_returns(tmp_path, monkeypatch):
    """os.fsync and os.replace are recorded (and still run), so the order of the real calls can be checked."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source: str, destination: str) -> None:
        calls.append(("replace", str(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "out" / "model.pt"
    write_bytes(target, b"weights")
    assert [kind for kind, _ in calls] == ["fsync", "replace", "fsync"]
    synced_file = Path(calls[0][1])
    assert synced_file.parent == target.parent and synced_file.name.startswith(".model.pt.")  # the new bytes
    assert calls[1] == ("replace", str(target)) and calls[2] == ("fsync", str(target.parent))  # then the rename
    assert target.read_bytes() == b"weights"


def test_write_json_is_deterministic_sorted_and_readable(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {"b": 1, "a": {"z": 0.5, "y": "ёж"}})
    write_json(b, {"a": {"y": "ёж", "z": 0.5}, "b": 1})
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() == '{\n  "a": {\n    "y": "ёж",\n    "z": 0.5\n  },\n  "b": 1\n}\n'.encode("utf-8")
    assert read_json(a) == {"a": {"y": "ёж", "z": 0.5}, "b": 1}


def test_write_csv_is_byte_identical_across_calls(tmp_path):
    frame = pd.DataFrame({"t": [1, 2], "x": [0.1 + 0.2, 1 / 3]})
    write_csv(tmp_path / "a.csv", frame)
    write_csv(tmp_path / "b.csv", frame.copy())
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() == b"t,x\n1,0.3\n2,0.33333333\n"


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.txt"
    write_text(path, "мой дядя")
    assert file_digest(path) == hashlib.sha256("мой дядя".encode("utf-8")).hexdigest()


# --- checkpoints --------------------------------------------------------------------------------------------------

def test_save_and_load_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.GRU(3, 4, batch_first=True)
    config = {"kind": "charrnn", "arch": {"vocab_size": 5, "cell": "gru", "dropout": 0.1}, "vocab": ["a", "ё"]}
    path = tmp_path / "models" / "model.pt"
    save_checkpoint(path, config, model.state_dict())
    loaded_config, state = load_checkpoint(path)
    assert loaded_config == config
    assert set(state) == set(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor)
    payload = torch.load(path, weights_only=True)  # plain data: the safe loader accepts it as is
    assert set(payload) == {"config", "state_dict"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]


class CreatesMarkerWithOpen:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


class CreatesMarkerWithSystem:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("payload_class", [CreatesMarkerWithOpen, CreatesMarkerWithSystem])
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_malicious_checkpoint_is_refused_without_running_its_code(tmp_path, payload_class, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    evil = {"config": payload_class(marker), "state_dict": {"w": torch.zeros(2)}}
    if writer == "torch.save":
        torch.save(evil, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(evil, handle, protocol=2)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert not marker.exists()
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    if writer == "torch.save":  # torch names the call it blocked; so does the message
        assert "would call" in str(info.value) and "weights_only=False" not in str(info.value)
    # The payload is live: an unsafe load would have run it, so the refusal above is what protected us.
    with open(path, "rb") as handle:
        pickle.load(handle) if writer == "pickle" else torch.load(handle, weights_only=False)
    assert marker.exists()


def test_checkpoint_with_other_keys_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.ones(2)}, path)
    message = str(pytest.raises(CheckpointError, load_checkpoint, path).value)
    assert "not an rnnpipe checkpoint" in message and str(path) in message


def test_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.ones(2)], path)
    assert "not an rnnpipe checkpoint" in str(pytest.raises(CheckpointError, load_checkpoint, path).value)


def test_garbage_file_is_refused_as_a_checkpoint(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint at all")
    message = str(pytest.raises(CheckpointError, load_checkpoint, path).value)
    assert str(path) in message and "\n" not in message


def test_missing_checkpoint_is_named(tmp_path):
    path = tmp_path / "models" / "missing.pt"
    message = str(pytest.raises(CheckpointError, load_checkpoint, path).value)
    assert "is missing" in message and str(path) in message


def test_identical_checkpoints_are_byte_identical_whatever_the_path(tmp_path):
    import torch

    state = torch.nn.GRU(2, 3).state_dict()
    save_checkpoint(tmp_path / "a" / "model.pt", {"kind": "x"}, state)
    save_checkpoint(tmp_path / "b" / "other.pt", {"kind": "x"}, state)
    assert file_digest(tmp_path / "a" / "model.pt") == file_digest(tmp_path / "b" / "other.pt")

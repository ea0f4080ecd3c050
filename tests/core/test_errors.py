"""Tests for the one-line edge (rnnpipe.core.errors.run_stage): what the system refuses is one line and exit code 1."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from rnnpipe.core.errors import ParamsError, os_error_line, run_stage
from rnnpipe.core.io import write_text


def stage_exit(main, capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as info:
        run_stage(main)
    return info.value.code, capsys.readouterr().err.splitlines()


def test_a_user_error_is_one_line_and_exit_code_1(capsys):
    def main():
        raise ParamsError("params.yaml: charrnn.seed = -1 is invalid")

    assert stage_exit(main, capsys) == (1, ["error: params.yaml: charrnn.seed = -1 is invalid"])


def test_a_real_write_to_a_full_device_is_one_line_and_exit_code_1(capsys):
    def main():
        with open("/dev/full", "wb") as device:
            device.write(b"metrics")  # /dev/full answers every write with ENOSPC

    assert stage_exit(main, capsys) == (1, ["error: No space left on device"])


def test_a_read_the_system_refuses_names_the_path(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    assert stage_exit(lambda: folder.read_text(), capsys) == (1, [f"error: Is a directory: {folder}"])


def test_a_write_into_a_file_as_if_it_were_a_folder_names_the_output(tmp_path, capsys):
    (tmp_path / "plots").write_text("a file")
    target = tmp_path / "plots" / "loss.csv"
    code, lines = stage_exit(lambda: write_text(target, "epoch,value\n"), capsys)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: cannot write {target}: ")
    assert (tmp_path / "plots").read_text() == "a file"


def test_os_error_line_names_both_paths_of_a_rename():
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a/tmp", None, "/b/model.pt")
    assert os_error_line(exc) == "Invalid cross-device link: /a/tmp -> /b/model.pt"
    assert os_error_line(OSError("no errno at all")) == "no errno at all"


def test_a_stage_returns_what_main_returns():
    assert run_stage(lambda: Path("x")) == Path("x")

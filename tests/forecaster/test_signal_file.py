"""rnnpipe.forecaster.signal_file: the prepared signal is checked before a forecaster stage uses it."""
from __future__ import annotations

from pathlib import Path

import pytest

from rnnpipe.core.errors import DataError
from rnnpipe.core.io import write_csv
from rnnpipe.forecaster.signal_file import read_signal
from rnnpipe.series.signal import noisy_signal

HINT = "restore it with `dvc checkout {path}`, or rebuild it with `dvc repro -f -s prepare_series`"


@pytest.fixture
def signal_file(tmp_path) -> Path:
    path = tmp_path / "signal.csv"
    write_csv(path, noisy_signal(-20.0, 20.0, 40, 24, 0.1, 0))  # as prepare_series writes it
    return path


def edit_line(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")


def test_the_file_prepare_series_writes_reads_back_as_written(signal_file):
    frame = read_signal(signal_file)
    assert list(frame.columns) == ["x", "clean", "y", "split"] and len(frame) == 40
    assert (frame["split"] == "train").sum() == 24 and frame["y"].dtype == float


@pytest.mark.parametrize("line, column, value, problem", [
    (5, 2, "nan", "line 5 has y = 'nan': allowed is a finite number"),
    (3, 1, "abc", "line 3 has clean = 'abc': allowed is a finite number"),
    (41, 0, "inf", "line 41 has x = 'inf': allowed is a finite number"),
    (7, 2, "", "line 7 has y = 'nan': allowed is a finite number"),
    (4, 3, "tset", "line 4 has split = 'tset': allowed is train or test"),
    (4, 3, "test", "its 23 train and 17 test rows are not a training part followed by a test part"),
])
def test_an_edited_row_is_one_line_naming_it(signal_file, line, column, value, problem):
    edit_line(signal_file, line, column, value)
    with pytest.raises(DataError) as refused:
        read_signal(signal_file)
    assert str(refused.value) == f"{signal_file}: {problem}; {HINT.format(path=signal_file)}"


@pytest.mark.parametrize("content, problem", [
    ("", "not a CSV table of the signal (No columns to parse from file)"),
    ("x,clean,split\n1,2,train\n", "no column 'y': the signal's columns are x, clean, y, split"),
    ("x,clean,y,split\n", "its 0 train and 0 test rows are not a training part followed by a test part"),
    ("x,clean,y,split\n1,1,1,train\n2,2,2,train\n", "its 2 train and 0 test rows are not a training part"),
])
def test_a_replaced_file_is_one_line(tmp_path, content, problem):
    path = tmp_path / "signal.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as refused:
        read_signal(path)
    assert str(refused.value).startswith(f"{path}: {problem}") and "\n" not in str(refused.value)


def test_bytes_that_are_not_text_are_one_line(tmp_path):
    path = tmp_path / "signal.csv"
    path.write_bytes(b"x,clean,y,split\n\xd0\x00\xff,1,1,train\n")
    with pytest.raises(DataError, match="not a CSV table of the signal"):
        read_signal(path)

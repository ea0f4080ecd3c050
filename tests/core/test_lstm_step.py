"""Setup's build of the compiled LSTM loops (rnnpipe.core.lstm_step): once, where it can write, and a one-line
note (never a failed setup) where it cannot. Its bits: tests/core/test_lstm.py."""
import ctypes
import shutil

import pytest

from rnnpipe.core import lstm_step

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                              reason="no C compiler (cc or gcc) on this machine to build the library")


@needs_cc
def test_setups_build_writes_the_library_once_in_the_first_writable_place(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    places = [blocked / "rnnpipe" / lstm_step.LIBRARY, tmp_path / "cache" / lstm_step.LIBRARY]
    monkeypatch.setattr(lstm_step, "library_candidates", lambda library: places)
    assert lstm_step.main(["build"]) == 0
    assert capsys.readouterr().out.startswith(f"setup: built {places[1]}")
    assert ctypes.CDLL(str(places[1])).lstm_backward
    assert lstm_step.main(["build"]) == 0 and capsys.readouterr().out == ""  # built once, then found


def test_without_a_working_compiler_setup_notes_it_in_one_line_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(lstm_step, "library_candidates", lambda library: [tmp_path / library])
    assert lstm_step.main(["build"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("setup: note: false could not build lstm-step-") and err.count("\n") == 1
    assert "runs its torch versions (the same bytes, slower)" in err and list(tmp_path.iterdir()) == []
    assert lstm_step.main(["nonsense"]) == 2


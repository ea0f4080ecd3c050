"""Every command a user types refuses a command line it does not know in one line, `error: ...` naming what it
got (or, where a command is missing, the commands allowed), with a non-zero exit code and nothing on stdout:
argparse's usage block is not an error message."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = [sys.executable]

COMMANDS = {
    "sweep": [*PYTHON, "-m", "rnnpipe.sweep"],
    "summary": [*PYTHON, "-m", "rnnpipe.summary"],
    "tracking": [*PYTHON, "-m", "rnnpipe.tracking"],
    "checks": [*PYTHON, "-m", "rnnpipe.checks"],
    "stage": [*PYTHON, "-m", "rnnpipe.stage"],
    "team services": ["bash", str(ROOT / "scripts" / "team_services.sh")],
    "benchmark": [*PYTHON, str(ROOT / "benchmarks" / "forecaster.py")],
    "course": [*PYTHON, "-m", "rnnpipe.course"],
    "course script": ["bash", str(ROOT / "scripts" / "course.sh")],
    "pipeline script": ["bash", str(ROOT / "scripts" / "run_pipeline.sh")],
}


@pytest.mark.parametrize("args", [["--bogus"], ["sweeep", "--bogus"]], ids=["flag", "command"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_flag_or_command_is_one_line_naming_it(tmp_path, command, args):
    done = subprocess.run([*COMMANDS[command], *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
                               "RNNPIPE_PYTHON": sys.executable, "RNNPIPE_TEAM_DIR": str(tmp_path / "team")})
    lines = done.stderr.splitlines()
    assert done.returncode in (1, 2) and done.stdout == "", done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert args[0] in lines[0] or re.search(r"required: (command|program) \(allowed are ", lines[0]), lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", [name for name in COMMANDS if name != "stage"])  # dvc's entry: stage names only
def test_help_is_usage_on_stdout_and_exit_0(tmp_path, command, flag):
    done = subprocess.run([*COMMANDS[command], flag], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
                               "RNNPIPE_PYTHON": sys.executable, "RNNPIPE_TEAM_DIR": str(tmp_path / "team")})
    assert done.returncode == 0 and "error" not in done.stderr, done.stderr
    assert re.search(r"^usage: ", done.stdout, re.MULTILINE), done.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["start", "stop", "status", "env"])
def test_a_team_dir_that_is_a_file_is_one_line_and_stays_as_it_was(tmp_path, command):
    team = tmp_path / "team"
    team.write_text("notes\n", encoding="utf-8")
    done = subprocess.run([*COMMANDS["team services"], command], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "RNNPIPE_PYTHON": sys.executable,
                                            "RNNPIPE_TEAM_DIR": str(team)})
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr == (f"error: RNNPIPE_TEAM_DIR={team} is not a folder: allowed is the team stack's folder, or "
                           "a path where none exists yet (start makes it)\n")
    assert team.read_text(encoding="utf-8") == "notes\n" and sorted(p.name for p in tmp_path.iterdir()) == ["team"]

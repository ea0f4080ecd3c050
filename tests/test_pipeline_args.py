"""Command 1's arguments (rnnpipe.pipeline_args): what `dvc repro` takes passes; an option it does not know or a
target that is neither a stage nor a file is one line naming it, before any work."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnnpipe.pipeline_args import problem

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [[], ["train_charrnn"], ["-f", "train_forecaster", "evaluate_forecaster"],
                                  ["dvc.yaml:generate_text"], ["--glob", "train_*"], ["-s", "--pull", "--dry"],
                                  ["dvc.yaml"]])
def test_what_dvc_repro_takes_passes(args):
    assert problem(args, ROOT) is None


@pytest.mark.parametrize("args, said", [
    (["--bogus"], "unrecognized arguments: --bogus: allowed are stage names and dvc repro's options"),
    (["-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet: allowed are stage names"),
    (["--downstream=3"], "argument --downstream: ignored explicit argument '3': allowed are"),
    (["train_charnn"], "'train_charnn' is no stage of dvc.yaml and no file: allowed are its stages (check_params, "),
    (["dvc.yaml:nope"], "'dvc.yaml:nope' is no stage of dvc.yaml and no file"),
])
def test_what_dvc_repro_refuses_is_named_with_what_is_allowed(args, said):
    found = problem(args, ROOT)
    assert found is not None and found.startswith(said), found
    assert found.endswith("(bash scripts/run_pipeline.sh --help)") and "\n" not in found


def test_a_refusal_leaves_dvcs_own_parser_working():
    from dvc.cli import parse_args
    from dvc.cli import parser as dvc_parser

    handlers = list(dvc_parser.logger.handlers)
    assert problem(["--bogus"], ROOT) is not None and problem(["-f"], ROOT) is None
    assert dvc_parser.logger.handlers == handlers and parse_args(["repro", "-f"]).force is True


def test_help_names_the_stages_and_dvc_repros_options_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "rnnpipe.pipeline_args", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("usage: bash scripts/run_pipeline.sh [STAGE ...]")
    assert "train_charrnn, evaluate_charrnn, generate_text." in done.stdout and "--force-downstream" in done.stdout

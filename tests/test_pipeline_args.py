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
                                  ["dvc.yaml"], ["-R", "."], [""], ["./dvc.yaml:forecast"],
                                  ["--glob", "dvc.yaml:*_charrnn"], ["--glob", ":"]])
def test_what_dvc_repro_takes_passes(args):
    assert problem(args, ROOT) is None


@pytest.mark.parametrize("args, said", [
    (["--bogus"], "unrecognized arguments: --bogus: allowed are stage names and dvc repro's options"),
    (["-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet: allowed are stage names"),
    (["--downstream=3"], "argument --downstream: ignored explicit argument '3': allowed are"),
    (["train_charnn"], "'train_charnn' is no stage of dvc.yaml: allowed are its stages (check_params, "),
    (["src"], "'src' is no stage of dvc.yaml: allowed are its stages"),
    (["params.yaml"], "'params.yaml' is no stage of dvc.yaml: allowed are its stages"),
    (["dvc.yaml:nope"], "'dvc.yaml:nope' is no stage of dvc.yaml"),
    (["--glob", "trian_*"], "'trian_*' matches no stage of dvc.yaml (--glob): allowed are its stages"),
    (["--glob", "dvc.yaml:nope?"], "'dvc.yaml:nope?' matches no stage of dvc.yaml (--glob)"),
    (["-R", "stages"], "'stages' is a folder without a stage in this project (-R): allowed are its stages"),
    (["-R", "/tmp"], "'/tmp' is a folder without a stage in this project (-R)"),
])
def test_what_dvc_repro_refuses_is_named_with_what_is_allowed(args, said):
    found = problem(args, ROOT)
    assert found is not None and found.startswith(said), found
    assert found.endswith("(bash scripts/run_pipeline.sh --help)") and "\n" not in found


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pygtrie's, as dvc indexes the repository
@pytest.mark.parametrize("target, glob, recursive", [("trian_*", True, False), ("stages", False, True)])
def test_dvc_itself_finds_no_stage_for_what_is_refused_and_would_run_everything(target, glob, recursive):
    """Why a pattern or folder that matches no stage is refused: dvc collects no stage for it, and `dvc repro` with no
    stage collected runs the whole pipeline (its graph unfiltered)."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import plan_repro

    with Repo(str(ROOT)) as repo:
        collected = repo.stage.collect(target, recursive=recursive, glob=glob)
        assert collected == []
        assert len(plan_repro(repo.index.graph, collected)) == len(repo.index.graph) > 1


def test_a_folder_with_a_dvc_file_or_a_dvc_yaml_is_taken_with_r(tmp_path):
    (tmp_path / "dvc.yaml").write_bytes((ROOT / "dvc.yaml").read_bytes())
    (tmp_path / "tracked" / "deep").mkdir(parents=True)
    (tmp_path / "tracked" / "deep" / "text.txt.dvc").write_text("outs:\n- path: text.txt\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    assert [problem(["-R", folder], tmp_path) is None for folder in ("tracked", "sub", ".", "empty")] == \
        [True, True, True, False]


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


@pytest.fixture
def project(tmp_path):
    """A project folder with the repository's dvc.yaml and params.yaml, its corpus a text file of its own."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["corpus"].update(source="file", path="text.txt")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    (tmp_path / "dvc.yaml").write_bytes((ROOT / "dvc.yaml").read_bytes())
    (tmp_path / "text.txt").write_text("мой дядя самых честных правил, когда не в шутку занемог. " * 400,
                                       encoding="utf-8")
    (tmp_path / "short.txt").write_text("мой дядя.", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("args, said", [
    (["-n", "x", "-S", "charrnn.epochs=3", "-S", "charrnn.lr=1e-3", "train_charrnn"], None),
    (["-S", "params.yaml:forecaster.hidden_size=16"], None),
    (["--bogus"], "unrecognized arguments: --bogus: allowed are dvc exp run's options (dvc exp run --help)"),
    (["-S", "charrnn.epochs=3", "-S", "charrnn.lr=0"], "params.yaml with the -S values: charrnn.lr = 0 is invalid"),
    (["-S", "forecaster.lrr=1"], "-S forecaster.lrr=1: Invalid `--set-param` value: Could not override "
                                 "'forecaster.lrr': allowed are section.key=value pairs of params.yaml"),
    (["-S", "corpus.path=short.txt"], "the cleaned corpus has only 9 characters: too few for a non-empty "),
    (["-S", "corpus.path=gone.txt"], "corpus path not found: gone.txt"),
])
def test_exp_run_arguments_and_the_params_they_make_are_checked_on_a_copy(project, args, said, monkeypatch):
    from rnnpipe.pipeline_args import exp_run_problem

    monkeypatch.chdir(project)  # the corpus path is relative, as in the project
    before = (project / "params.yaml").read_bytes()
    found = exp_run_problem(args, project)
    assert found is None if said is None else found is not None and found.startswith(said), found
    assert (project / "params.yaml").read_bytes() == before and "\n" not in (found or "")


def test_exp_run_names_a_params_file_that_is_not_yaml_as_the_file_it_is(project, monkeypatch):
    from rnnpipe.pipeline_args import exp_run_problem

    monkeypatch.chdir(project)
    (project / "params.yaml").write_text("charrnn: [1,\n", encoding="utf-8")
    found = exp_run_problem(["-S", "charrnn.lr=0.1"], project)
    assert found is not None and found.startswith("params.yaml: not valid YAML at line 2, column 1"), found

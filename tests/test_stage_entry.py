"""The stage entry (`python -m rnnpipe.stage NAME`): the stage list, stage code without import-time work, and what a
wrong name or a bad params.yaml gives (one line, a non-zero exit) before any stage code runs."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnpipe.stage import STAGES

ROOT = Path(__file__).resolve().parents[1]
DVC_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def entry(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnpipe.stage", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}, timeout=120)


def test_the_stage_list_is_dvc_yamls_and_every_stage_runs_through_the_entry():
    assert list(STAGES) == list(DVC_STAGES)
    assert {path.stem for path in (ROOT / "stages").glob("*.py")} == set(STAGES)
    for name, spec in DVC_STAGES.items():
        assert spec["cmd"] == f"PYTHONPATH=src python -m rnnpipe.stage {name}"


@pytest.mark.parametrize("name", STAGES)
def test_stage_code_does_nothing_when_imported_and_takes_the_params_first(name):
    tree = ast.parse((ROOT / "stages" / f"{name}.py").read_text(encoding="utf-8"))
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    assert all(isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef)) for node in body), name
    main = next(node for node in body if isinstance(node, ast.FunctionDef) and node.name == "main")
    assert main.args.args[0].arg == "params"


def test_no_stage_loads_mlflow_unless_it_tracks():
    """MLflow costs a second of imports in every stage process; a run with tracking off never loads it (the
    stages import their serving modules, which need it, only to log a model)."""
    code = ("import sys; sys.path[:0] = ['src', '.']; import importlib\n"
            f"for name in {list(STAGES)!r}: importlib.import_module('stages.' + name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'sqlalchemy', 'alembic'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [("train_everything",), ()])
def test_an_unknown_stage_is_one_line_naming_the_allowed_ones_and_exit_code_2(tmp_path, args):
    result = entry(*args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: stage ") and "allowed are check_params, prepare_series," in line
    assert (repr(args[0]) if args else "none") in line


def test_a_bad_params_yaml_is_one_line_and_exit_code_1_before_any_stage_code(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["runtime"]["isa"] = "sse2"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    result = entry("prepare_series", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: params.yaml: runtime.isa = 'sse2'")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name, args, allowed", [
    ("generate_text", ("a", "b", "c"), "allowed are 0 to 2 (model_path out_dir"),
    ("check_params", ("a", "b"), "allowed are 0 to 1 (marker"),
])
def test_too_many_arguments_are_one_line_naming_the_allowed_ones_before_any_stage_code(tmp_path, name, args, allowed):
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    result = entry(name, *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: stage {name} got {len(args)} arguments {list(args)!r}: {allowed}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stages"]


@pytest.mark.parametrize("name, damaged, content, line", [
    ("train_forecaster", "data/series/signal.csv", "x,clean,y,split\n1,1,nan,train\n2,2,2,test\n",
     "error: data/series/signal.csv: line 2 has y = 'nan': allowed is a finite number; restore it with "
     "`dvc checkout data/series/signal.csv`, or rebuild it with `dvc repro -f -s prepare_series`"),
    ("train_charrnn", "data/corpus/vocab.json", '{"vocab": "abc"}',
     "error: data/corpus/vocab.json: its 'vocab' is not a list of distinct characters; restore it with "
     "`dvc checkout data/corpus/vocab.json`, or rebuild it with `dvc repro -f -s prepare_corpus`"),
])
def test_a_damaged_intermediate_stops_its_stage_in_one_line_before_any_output(tmp_path, name, damaged, content, line):
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    (tmp_path / damaged).parent.mkdir(parents=True)
    (tmp_path / damaged).write_text(content, encoding="utf-8")
    result = entry(name, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.splitlines() == [line]
    assert not any((tmp_path / folder).exists() for folder in ("models", "plots", "reports"))

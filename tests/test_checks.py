"""rnnpipe.checks: a passed corpus check is remembered under .dvc/tmp/checks and reused only for the same inputs;
a refusal is never remembered."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnpipe.checks import check_inputs, passed_record
from rnnpipe.core.errors import RnnpipeError
from rnnpipe.params import parse_params

REPO = Path(__file__).resolve().parents[1]
TEXT = "Мой дядя самых честных правил, когда не в шутку занемог. The quick brown fox jumps over the lazy dog. " * 6


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "tiny.txt").write_text(TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return tmp_path


def params(**sections):
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["corpus"].update(source="file", path="texts/tiny.txt")
    raw["charrnn"].update(seq_length=8, batch_size=4)
    for section, values in sections.items():
        raw[section].update(values)
    return parse_params(raw)


def records(root: Path) -> list[Path]:
    return sorted((root / ".dvc" / "tmp" / "checks").glob("*.txt"))


def test_a_pass_is_remembered_and_reused_for_a_forecaster_only_change(project):
    first = check_inputs(params())
    assert first.endswith("all fine") and len(records(project)) == 1
    again = check_inputs(params(forecaster={"hidden_size": 3}))
    assert again == first and len(records(project)) == 1


@pytest.mark.parametrize("change", [{"corpus": {"shuffle_entries": True, "seed": 7}},
                                    {"charrnn": {"seq_length": 9}}, {"generate": {"prompt": "the fox"}}])
def test_a_change_to_what_the_check_reads_checks_again(project, change):
    check_inputs(params())
    check_inputs(params(**change))
    assert len(records(project)) == 2


def test_a_changed_corpus_file_checks_again_and_a_refusal_is_never_remembered(project):
    check_inputs(params())
    (project / "texts" / "tiny.txt").write_text("!!! ", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(RnnpipeError):
            check_inputs(params())
    assert len(records(project)) == 1


def test_no_record_without_a_dvc_folder_or_a_readable_corpus(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("plain")
    assert passed_record(params(), elsewhere) is None
    assert passed_record(params(corpus={"path": "texts/missing.txt"})) is None


def test_a_temporary_experiment_copy_uses_the_parent_repository(project, monkeypatch, tmp_path_factory):
    parent = tmp_path_factory.mktemp("parent")
    (parent / ".dvc").mkdir()
    monkeypatch.setenv("DVC_ROOT", str(parent))
    check_inputs(params())
    assert len(records(parent)) == 1 and records(project) == []


def checked_in_a_fresh_process(project: Path, **sections) -> list[str]:
    """check_inputs in a new interpreter (no record yet): its summary line and whether torch was loaded."""
    code = ("import sys\nfrom rnnpipe.checks import check_inputs\nfrom rnnpipe.params import parse_params\n"
            f"print(check_inputs(parse_params({params(**sections).model_dump(mode='json')!r})))\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_corpus_check_runs_without_torch_unless_windows_are_bounded_by_sentences(project):
    """torch's import is most of what a cold check costs (1.4 s of 1.7 s on a 2-core Zen 3)."""
    summary, loaded = checked_in_a_fresh_process(project)
    assert summary.endswith("all fine") and loaded == "False"
    summary, loaded = checked_in_a_fresh_process(project, charrnn={"mode": "many_to_one", "sentence_windows": True})
    assert summary.endswith("all fine") and loaded == "True"


def test_sentence_bounded_windows_are_still_checked(project):
    with pytest.raises(RnnpipeError, match="no sentence of the training split is longer than charrnn.seq_length = 90"):
        check_inputs(params(charrnn={"mode": "many_to_one", "sentence_windows": True, "seq_length": 90}))


@pytest.mark.parametrize("args, line", [
    (["--bogus"], "error: arguments '--bogus' are invalid: allowed is at most one params file "
                  "(python -m rnnpipe.checks [params.yaml])"),
    (["a.yaml", "b.yaml"], "error: arguments 'a.yaml b.yaml' are invalid: allowed is at most one params file "
                           "(python -m rnnpipe.checks [params.yaml])"),
    (["missing.yaml"], "error: params file not found: missing.yaml"),
    (["latin1.yaml"], "error: latin1.yaml: byte b'\\xe9' at offset 19 is not UTF-8: allowed is a UTF-8 text file"),
])
def test_the_command_checks_the_params_file_it_is_given_and_refuses_other_arguments(project, args, line):
    (project / "latin1.yaml").write_bytes("corpus:\n  path: caf\u00e9\n".encode("latin-1"))
    done = subprocess.run([sys.executable, "-m", "rnnpipe.checks", *args], cwd=project, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert (done.returncode, done.stderr, done.stdout) == (1, line + "\n", "")


@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_corpus_path_that_is_no_regular_file_is_refused_in_one_line_without_reading_it(project, kind):
    """A named pipe would block a read forever and /dev/zero never ends: the check refuses both without reading."""
    path = project / "texts" / "pipe"
    if kind == "pipe":
        os.mkfifo(path)
    (project / "params.yaml").write_text(yaml.safe_dump(params(corpus={"path": str(path) if kind == "pipe"
                                                                       else "/dev/zero"}).model_dump(mode="json"),
                                                        allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "rnnpipe.checks"], cwd=project, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and "not a file" in done.stderr, done.stderr
    assert records(project) == []


def test_the_command_names_the_params_file_it_read_in_its_lines(project):
    raw = params().model_dump(mode="json")
    (project / "conf").mkdir()
    (project / "conf" / "other.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    raw["forecaster"]["lr"] = -1.0
    (project / "conf" / "bad.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    good, bad = (subprocess.run([sys.executable, "-m", "rnnpipe.checks", str(project / "conf" / name)], cwd=project,
                                capture_output=True, text=True, timeout=120, env=env)
                 for name in ("other.yaml", "bad.yaml"))
    assert good.returncode == 0 and good.stdout.startswith("checks: conf/other.yaml, runtime.isa "), good.stderr
    assert bad.returncode == 1 and bad.stderr.startswith("error: conf/bad.yaml: forecaster.lr = -1.0 is invalid")

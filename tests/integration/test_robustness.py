"""Bad input, bad params, interruption and bit-for-bit reruns, through the real `dvc repro`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from mlflow.tracking import MlflowClient

import yaml

from rnnpipe.tracking.runs import PID_TAG
from rnnpipe.tracking.store import process_alive
from tests.core.test_io import mounted_tmpfs
from tests.integration.helpers import (BIN, REPO, TINY_PARAMS, RepoCopy, copy_of, deep_update, make_copy,
                                       subprocess_env)

pytestmark = pytest.mark.slow


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def output_files(copy: RepoCopy) -> dict[str, bytes]:
    return {str(p.relative_to(copy.root)): p.read_bytes() for folder in ("data", "models", "metrics", "plots", "samples")
            for p in (copy.root / folder).rglob("*") if p.is_file()}


@pytest.mark.parametrize("changes, expected", [
    ({"forecaster": {"lr": 0}}, "forecaster.lr = 0 is invalid: allowed is a number > 0"),
    ({"charrnn": {"hidden_size": 0}}, "charrnn.hidden_size = 0 is invalid"),
    ({"generate": {"temperature": -1}}, "generate.temperature = -1 is invalid"),
    ({"forecaster": {"seq_length": 200}}, "forecaster.seq_length = 200 is invalid"),
    ({"corpus": {"test_fraction": 0.3}}, "add up to 1.2"),
    ({"forecaster": {"lrr": 0.1}}, "unknown key 'forecaster.lrr'"),
    ({"forecaster": {"epochs": "many"}}, "forecaster.epochs = 'many' is invalid"),
    ({"charrnn": {"seed": 2**64}}, "charrnn.seed = 18446744073709551616 is invalid: allowed is an integer from 0"),
    ({"corpus": {"fortunes_files": ["art", "../tiny.txt"]}}, "corpus.fortunes_files[1] = '../tiny.txt' is invalid"),
])
def test_bad_params_stop_the_pipeline_before_any_output(tmp_path, changes, expected):
    copy = make_copy(tmp_path / "repo", changes)
    before = output_files(copy)  # the committed metrics and plot tables, nothing else
    result = copy.repro(check=False)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert output_files(copy) == before


def write(copy: RepoCopy, name: str, data: bytes) -> None:
    (copy.root / "texts" / name).write_bytes(data)


@pytest.mark.parametrize("name, data, expected", [
    ("empty.txt", b"", "corpus file is empty"),
    ("symbols.txt", "!!! --- ### «»\n".encode() * 50, "nothing is left of the corpus"),
    ("cp1251.txt", "мой дядя".encode("cp1251"), "not valid UTF-8: byte 0xec at offset 0"),
    ("late.txt", "мой дядя самых ".encode() * 10 + b"\xff", "at offset 270"),
    ("binary.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 100, "looks binary (NUL byte at offset 7)"),
])
def test_bad_corpus_files_give_one_line_errors_and_no_corpus(tmp_path, name, data, expected):
    copy = make_copy(tmp_path / "repo", {"corpus": {"path": f"texts/{name}"}})
    write(copy, name, data)
    result = copy.repro("prepare_corpus", check=False)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not (copy.root / "data/corpus/train.txt").exists()


def test_missing_corpus_path_and_empty_folder_are_named(tmp_path):
    copy = make_copy(tmp_path / "repo", {"corpus": {"source": "dir", "path": "texts/empty_dir"}})
    (copy.root / "texts/empty_dir").mkdir()
    (copy.root / "texts/empty_dir/notes.md").write_text("not a .txt")
    result = copy.repro("prepare_corpus", check=False)
    assert result.returncode != 0 and "corpus folder has no .txt files: texts/empty_dir" in result.stderr

    copy.set_params({"corpus": {"source": "file", "path": "texts/missing.txt"}})
    result = copy.repro("prepare_corpus", check=False)
    assert result.returncode != 0 and "texts/missing.txt" in result.stderr


def test_corpus_shorter_than_one_training_window_is_a_clear_error(tmp_path):
    copy = make_copy(tmp_path / "repo", {"charrnn": {"seq_length": 3000}})
    result = copy.repro("train_charrnn", check=False)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and "need at least" in errors[0] and "charrnn.seq_length = 3000" in errors[0]
    assert not (copy.root / "models/charrnn/model.pt").exists()


def test_a_prompt_the_corpus_cannot_produce_stops_the_pipeline_before_any_training(tmp_path):
    copy = make_copy(tmp_path / "repo", {"generate": {"prompt": "Мой ЩИТ! №"}})
    result = copy.repro(check=False)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1, result.stderr
    assert "'Мой ЩИТ! №' (cleaned like the corpus: 'мой щит ')" in errors[0] and "vocabulary: 'щ'" in errors[0]
    assert RepoCopy.ran_stages(result.stdout) == {"check_params"}  # nothing trained, nothing written
    assert not (copy.root / "models/charrnn/model.pt").exists()


def test_a_prompt_in_capitals_is_cleaned_like_the_corpus(tmp_path):
    copy = make_copy(tmp_path / "repo", {"generate": {"prompt": "МОЙ ДЯДЯ"}})
    result = copy.repro("generate_text")
    assert "cleaned like the corpus: 'мой дядя'" in result.stdout
    assert json.loads((copy.root / "samples/text.json").read_text(encoding="utf-8"))["prompt"] == "мой дядя"


def run_prepare_corpus(tmp_path, out_dir, report) -> subprocess.CompletedProcess:
    """The prepare_corpus stage itself (no dvc: the outputs go where the test says) on a 100 KB text."""
    work = tmp_path / "work"
    (work / "texts").mkdir(parents=True)
    text = "Мой дядя самых честных правил, когда не в шутку занемог. " * 1800
    (work / "texts" / "big.txt").write_text(text, encoding="utf-8")
    tiny = deep_update(yaml.safe_load(yaml.safe_dump(TINY_PARAMS)), {"corpus": {"path": "texts/big.txt"}})
    params = deep_update(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")), tiny)
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    shutil.copytree(REPO / "stages", work / "stages")
    return subprocess.run([str(BIN / "python"), "-m", "rnnpipe.stage", "prepare_corpus", str(out_dir), str(report)],
                          cwd=work, env=subprocess_env(PYTHONPATH=str(REPO / "src")), capture_output=True, text=True,
                          timeout=120)


def test_a_full_disk_stops_a_stage_with_one_line_and_leaves_the_old_outputs(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "64k") as disk:
        old = disk / "corpus" / "train.txt"
        old.parent.mkdir()
        old.write_text("the previous split", encoding="utf-8")
        result = run_prepare_corpus(tmp_path, disk / "corpus", disk / "corpus.json")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert error_lines(result) == [f"error: cannot write {old}: No space left on device; the file that was "
                                       "there, if any, is unchanged"]
        assert old.read_text(encoding="utf-8") == "the previous split"
        assert sorted(p.name for p in disk.rglob("*")) == ["corpus", "train.txt"]  # no temporary file left


def test_an_output_folder_that_is_a_file_stops_a_stage_with_one_line(tmp_path):
    (tmp_path / "corpus").write_text("a file where the output folder should be")
    result = run_prepare_corpus(tmp_path, tmp_path / "corpus", tmp_path / "corpus.json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert error_lines(result) == [f"error: cannot write {tmp_path / 'corpus' / 'train.txt'}: File exists "
                                   f"({tmp_path / 'corpus'}); the file that was there, if any, is unchanged"]
    assert not (tmp_path / "corpus.json").exists()


def training_runs(copy: RepoCopy) -> list:
    client = MlflowClient(f"sqlite:///{copy.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rnnpipe-charrnn")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_killed_training_leaves_nothing_partial_and_the_next_repro_completes(tmp_path, sig):
    # Enough epochs that training is surely still running when the signal arrives.
    copy = make_copy(tmp_path / "repo", {"charrnn": {"epochs": 400}, "tracking": {"enabled": True}})
    log = open(tmp_path / "repro.log", "w")
    # dvc starts as a terminal's foreground job does, with SIGINT at its default. Started from a runner that is
    # itself a background job of a script (`cmd &`), this process would pass SIGINT down ignored (POSIX), and
    # every process below would rightly ignore Ctrl-C too.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen([str(BIN / "dvc"), "repro", "train_charrnn"], cwd=copy.root, env=copy.env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 180
    while "charrnn epoch 2/" not in (tmp_path / "repro.log").read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "repro.log").read_text()
        time.sleep(0.2)
    os.killpg(process.pid, sig)  # the whole group, as Ctrl-C in a terminal, `kill` or an OOM kill would
    process.wait(timeout=60)
    log.close()
    assert process.returncode != 0
    assert not (copy.root / "models/charrnn/model.pt").exists()
    # dvc dies at once; the stage it started may still be closing its run: wait for that process (its PID is a tag)
    [killed] = training_runs(copy)
    stage_pid, deadline = int(killed.data.tags[PID_TAG]), time.monotonic() + 60
    while process_alive(stage_pid):
        assert time.monotonic() < deadline, f"the stage process {stage_pid} outlived dvc by a minute"
        time.sleep(0.1)
    assert "train_charrnn" in copy.dvc("status").stdout  # DVC recorded nothing for the killed stage
    [killed] = training_runs(copy)
    # A signal Python sees ends the run before the stage exits; SIGKILL leaves it RUNNING until the stage starts again.
    assert killed.info.status == ("RUNNING" if sig == signal.SIGKILL else "KILLED")

    copy.set_params({"charrnn": {"epochs": 2}})
    result = copy.repro("train_charrnn")  # the killed stage and what it needs: the rest of the pipeline never ran
    assert "train_charrnn" in RepoCopy.ran_stages(result.stdout)
    assert "up to date" in copy.dvc("status", "train_charrnn").stdout
    killed, finished = training_runs(copy)
    assert killed.info.status == "KILLED" and finished.info.status == "FINISHED"
    leftovers = [p for p in copy.root.rglob("*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []


def test_swapped_models_stop_every_downstream_stage_with_one_line_and_write_nothing(pipeline_run, tmp_path):
    source, _ = pipeline_run
    copy = copy_of(source, tmp_path / "repo")
    forecaster, charrnn = copy.root / "models/forecaster/model.pt", copy.root / "models/charrnn/model.pt"
    forecaster_bytes, charrnn_bytes = forecaster.read_bytes(), charrnn.read_bytes()
    forecaster.write_bytes(charrnn_bytes)  # the plain mix-up of copying models around
    charrnn.write_bytes(forecaster_bytes)
    before = output_files(copy)
    for stage, path, expected in (("evaluate_forecaster", forecaster, "'charrnn' model, not a 'forecaster'"),
                                  ("forecast", forecaster, "'charrnn' model, not a 'forecaster'"),
                                  ("evaluate_charrnn", charrnn, "'forecaster' model, not a 'charrnn'"),
                                  ("generate_text", charrnn, "'forecaster' model, not a 'charrnn'")):
        result = copy.run(str(BIN / "python"), "-m", "rnnpipe.stage", stage, check=False,
                          env_extra={"PYTHONPATH": "src"})
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        errors = error_lines(result)
        assert len(errors) == 1 and expected in errors[0] and str(path.relative_to(copy.root)) in errors[0]
        assert "dvc checkout" in errors[0] and "dvc repro -f -s train_" in errors[0]
    assert output_files(copy) == before

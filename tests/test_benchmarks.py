"""Smoke tests for the benchmarks: each runs end to end on a small part and prints its table."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnpipe.params import load_params

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # trains a model in a subprocess


def test_forecaster_benchmark_runs_the_course_config_and_prints_the_knn_yardstick():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forecaster.py"), "--configs", "course",
                           "--seeds", "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    course = [line for line in lines if line.startswith("course")]
    # name, window, validation MSE, test mean ± sd, seconds, four ratios, the recursive forecast's MSE
    assert len(course) == 1 and len(course[0].split()) == 12
    assert not any(line.startswith("default") for line in lines)
    assert not any("goals for the default" in line for line in lines)  # printed for the default only
    baselines = [line for line in lines if "baselines on the same targets: ridge AR" in line]
    assert len(baselines) == 1 and "picked on its own validation part" in baselines[0]
    knn = [line for line in lines if "neighbours: test MSE" in line]
    assert len(knn) == 4
    ratios = [float(line.split("=")[1].split()[0]) for line in knn]
    assert all(1.0 < r < 1.5 for r in ratios)  # above the noise floor, below the linear AR's ~1.4-1.5x


def test_forecaster_benchmark_refuses_a_bad_override_in_one_line_before_training():
    for pair, expected in (("forecaster.hidden_size=0", "forecaster.hidden_size = 0 is invalid"),
                           ("forecaster.seq_lengt=400", "unknown key 'forecaster.seq_lengt'"),
                           ("runtime.threads=1", "runtime is pinned before torch loads"),
                           ('forecaster.lr="', "the value is not valid YAML (found unexpected end of stream)")):
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forecaster.py"), "--set", pair],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and expected in done.stderr


def charrnn_throughput(tmp_path, parts: str, *args: str) -> subprocess.CompletedProcess:
    """`benchmarks/charrnn.py --parts PARTS ARGS` over 15,000 characters of a small text of its own, for an LSTM of 128
    units (these tests read what the benchmark prints, not how fast: the default's 512 only takes longer); must
    succeed."""
    text = tmp_path / "text.txt"
    text.write_text("Мой дядя самых честных правил, когда не в шутку занемог. " * 400, encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "charrnn.py"), "--parts", *parts.split(),
                           "--chars", "15000", "--corpus", str(text), "--set", "charrnn.hidden_size=128", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def test_charrnn_benchmark_measures_pinned_and_unpinned_numerics_in_separate_processes(tmp_path):
    done = charrnn_throughput(tmp_path, "numerics")
    rows = {line.split("  ")[0]: line for line in done.stdout.splitlines()
            if line.startswith(("unpinned", "pinned"))}
    assert len(rows) == 6, done.stdout
    assert "AVX2" in rows["pinned (runtime.isa: avx2)"] and " off " in rows["pinned (runtime.isa: avx2)"]
    assert " FastLSTM " in rows["pinned (runtime.isa: avx2)"]
    stock = rows["unpinned, AVX2, torch's own nn.LSTM"]
    assert " on " in stock and " LSTM " in stock and "FastLSTM" not in stock  # the row it is compared with
    assert " FastLSTM " in rows["unpinned, an AVX2 machine's default"]
    assert " LSTM " in rows["unpinned, this machine, torch's nn.LSTM"]
    stock_pinned = rows["pinned, torch's own nn.LSTM"]
    assert " LSTM " in stock_pinned and " off " in stock_pinned
    assert "FastLSTM against torch's nn.LSTM, both pinned" in done.stdout
    assert all(float(line.split()[-1 if line.startswith("pinned (") else -2].replace(",", "")) > 0
               for line in rows.values())
    assert "goal: pinning costs" in done.stdout


def test_charrnn_benchmark_times_the_course_loop_against_the_trainer_at_the_course_settings_and_both_dropouts(
        tmp_path):
    done = charrnn_throughput(tmp_path, "course dropout", "--seconds", "1")  # one process for two short parts
    rows = [line for line in done.stdout.splitlines() if line.startswith(("course: per-sample", "project, "))]
    assert [row.split(",")[0] for row in rows] == ["course: per-sample one-hot Dataset", "project", "project"], rows
    assert "project, many_to_one, batch 8 (tensor-gathered windows)" in rows[1]  # scripts/course.sh text's batch
    assert rows[2].startswith("project, many_to_many, batch 32, BPTT 50")  # params.yaml's batch and BPTT
    assert all(float(row.split()[-2].replace(",", "")) > 0 for row in rows), rows
    timed = dict(re.findall(r"^(torch F\.dropout|rnnpipe\.core\.dropout) .*?([0-9.]+) ms", done.stdout, re.M))
    assert set(timed) == {"torch F.dropout", "rnnpipe.core.dropout"}, done.stdout
    assert all(float(ms) > 0 for ms in timed.values()) and "x as fast" in done.stdout


def test_charrnn_benchmark_trains_the_config_set_on_its_command_line(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("Мой дядя самых честных правил, когда не в шутку занемог. " * 100, encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "charrnn.py"), "--parts", "default",
                           "--corpus", str(text), "--set", "charrnn.hidden_size=8", "--set", "charrnn.epochs=1",
                           "--set", "charrnn_eval.baseline_order=2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(lstm 8, many_to_many, 1 epochs, with charrnn.hidden_size=8 charrnn.epochs=1" in done.stdout
    assert "char-RNN (the config above), 10-gram part" in done.stdout
    assert "Kneser-Ney 2-gram (the baseline)" in done.stdout and "its 10-gram alone" in done.stdout
    assert "its RNN alone" in done.stdout and "mixture weights: RNN" in done.stdout
    assert "softmax temperature" in done.stdout and "(fitted on validation)" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--set", "charrnn.epochs=0"], "error: --set: charrnn.epochs = 0 is invalid: allowed is an integer >= 1"),
    (["--set", "charrnn.hiden_size=8"],
     "error: --set: unknown key 'charrnn.hiden_size': allowed keys in charrnn are mode,"),
    (["--set", "epochs=3"], "error: --set 'epochs=3': expected SECTION.KEY=VALUE"),
    (["--set", "charrnn.lr=[1,"], "error: --set 'charrnn.lr=[1,': the value is not valid YAML (expected the node "
                                  "content, but found '<stream end>'): allowed is a YAML value"),
    (["--set", "chars.epochs=3"],
     "error: --set 'chars.epochs=3': unknown section 'chars': allowed are runtime, series,"),
    (["--rounds", "0"], "error: --rounds = 0 is invalid: allowed is an integer >= 1"),
    (["--gemm-seconds", "-1"], "error: --gemm-seconds = -1 is invalid: allowed is a number of seconds in (0, 600]"),
    (["--gemm-seconds", "nan"], "error: --gemm-seconds = nan is invalid: allowed is a number of seconds in (0, 600]"),
    (["--parts", "rate", "--chars", "-5"], "error: --chars = -5 is invalid: allowed is an integer >= 1"),
    (["--chars", "0"], "error: --chars = 0 is invalid: allowed is an integer >= 1"),
    (["--chars", "5"], "error: --chars = 5 is invalid: allowed is an integer >= "),  # one training batch
    (["--chars", "84", "--set", "charrnn.seq_length=10", "--set", "charrnn.batch_size=4", "--parts", "rate"],
     "error: --chars = 84 is invalid for --parts rate: allowed is an integer >= 85, three training batches"),
    (["--chars", "abc"], "error: argument --chars: invalid int value: 'abc'"),
    (["--parts", "course", "--seconds", "-1"],
     "error: --seconds = -1 is invalid: allowed is a number of seconds in (0, 600]"),
    (["--seconds", "0"], "error: --seconds = 0 is invalid: allowed is a number of seconds in (0, 600]"),
    (["--seconds", "inf"], "error: --seconds = inf is invalid: allowed is a number of seconds in (0, 600]"),
    (["--parts", "cours"], "error: argument --parts: invalid choice: 'cours' (choose from 'course', "),
])
def test_charrnn_benchmark_refuses_a_bad_argument_in_one_line(args, message):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "charrnn.py"), "--parts", "default", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("script", [["charrnn.py", "--parts", "dropout"], ["serving.py"]])
@pytest.mark.parametrize("name, content, message", [
    ("missing.txt", None, "error: --corpus = '{path}' is invalid (not found): allowed is a UTF-8 text file"),
    ("folder", "folder", "error: --corpus = '{path}' is invalid (a folder): allowed is a UTF-8 text file"),
    ("empty.txt", b"", "error: --corpus: corpus file is empty: {path}"),
    ("utf16.txt", b"\xff\xfe", "error: --corpus: corpus file {path} is UTF-16LE text (with a byte order mark), "
                                "not UTF-8"),
    ("cp1251.txt", "Мой дядя".encode("cp1251"), "error: --corpus: corpus file is not valid UTF-8: byte 0xcc at "
                                                 "offset 0 in {path}"),
    ("symbols.txt", b"@#$%^&*", "error: --corpus: nothing is left of the corpus at {path} after cleaning"),
    ("", None, "error: --corpus = '' is invalid (an empty path): allowed is a UTF-8 text file"),
])
def test_benchmarks_refuse_a_corpus_they_cannot_read_in_one_line_before_any_work(tmp_path, script, name, content,
                                                                                  message):
    path = tmp_path / name if name else ""
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script[0]), *script[1:], "--corpus", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message.format(path=path)), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("script, args, message", [
    ("forecaster.py", ["--seeds", "-1", "--configs", "course"],
     "error: --seeds = -1 is invalid: allowed is an integer from 0 to 4294967295"),
    ("forecaster.py", ["--seeds", "0", "4294967296"],
     "error: --seeds = 4294967296 is invalid: allowed is an integer from 0 to 4294967295"),
    ("forecaster.py", ["--seeds", "1", "2", "1"],
     "error: --seeds: 1 is given twice: allowed are distinct integers from 0 to 4294967295"),
    ("forecaster.py", ["--seeds", "one"], "error: argument --seeds: invalid int value: 'one'"),
    ("sweep.py", ["--trials", "0"], "error: --trials = 0 is invalid: allowed is an integer >= 1"),
    ("sweep.py", ["--parts", "storage", "--storage-trials", "-3"],
     "error: --storage-trials = -3 is invalid: allowed is an integer >= 1"),
    ("sweep.py", ["--parts", "storag"], "error: argument --parts: invalid choice: 'storag' (choose from "),
    ("corpus_scale.py", ["--scales", "0"], "error: --scales = 0 is invalid: allowed is an integer >= 1"),
    ("corpus_scale.py", ["--scales", "1", "-2"], "error: --scales = -2 is invalid: allowed is an integer >= 1"),
    ("corpus_scale.py", ["--scales", "x"], "error: argument --scales: invalid int value: 'x'"),
    ("corpus_scale.py", ["--base-chars", "999"], "error: --base-chars = 999 is invalid: allowed is an integer >= 1000"),
    ("corpus_scale.py", ["--val-chars", "0"],
     "error: --val-chars = 0 is invalid: allowed is an integer from 1 to 324999, under half of --base-chars 650000"),
    ("corpus_scale.py", ["--base-chars", "2000", "--val-chars", "1000"],
     "error: --val-chars = 1000 is invalid: allowed is an integer from 1 to 999, under half of --base-chars 2000"),
    ("corpus_scale.py", ["--chars-per-epoch", "-1"], "error: --chars-per-epoch = -1 is invalid: allowed is 0 "),
    ("serving.py", ["--chars", "5"], "error: unrecognized arguments: --chars 5"),
])
def test_benchmarks_refuse_a_bad_number_in_one_line_before_any_work(script, args, message):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("script", [["forecaster.py"], ["serving.py"], ["charrnn.py", "--parts", "dropout"],
                                    ["corpus_scale.py"]])
def test_benchmarks_refuse_an_invalid_params_yaml_in_one_line(tmp_path, script):
    """Each benchmark reads the params.yaml beside its folder: a value params.yaml does not allow is the pipeline's
    own one-line message, before any work."""
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["forecaster"]["hidden_size"] = -3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, str(tmp_path / "benchmarks" / script[0]), *script[1:]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr == (f"error: {tmp_path / 'params.yaml'}: forecaster.hidden_size = -3 is invalid: allowed is "
                           "an integer >= 1\n")


def test_corpus_scale_benchmark_prints_every_part_at_every_scale_with_its_growth():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus_scale.py"), "--base-chars", "20000",
                           "--scales", "1", "2", "--chars-per-epoch", "1600", "--val-chars", "1000"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("prepare ", "ngram ", "epoch "))]
    assert [(row[0], row[1]) for row in rows] == [(part, scale) for part in ("prepare", "ngram", "epoch")
                                                  for scale in ("1x", "2x")]
    # seconds (a tiny part may round to 0.00) and peak MB
    assert all(float(row[2]) >= 0 and float(row[3].replace(",", "")) > 0 for row in rows)
    assert "epoch: 1,600 training targets at every scale (the cap)" in done.stdout
    assert "growth from 1x to 2x (corpus x2)" in done.stdout
    growth = [line.split()[0] for line in done.stdout.splitlines() if "(per character" in line]
    assert growth == ["prepare", "ngram", "epoch"]


def test_corpus_scale_benchmark_refuses_a_cap_below_one_chunk_per_stream_in_one_line():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus_scale.py"), "--chars-per-epoch", "5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: --chars-per-epoch = 5 is invalid: allowed is 0 or an integer >= ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_charrnn_benchmark_prints_training_gflops_next_to_the_sgemm_rate(tmp_path):
    done = charrnn_throughput(tmp_path, "rate", "--gemm-seconds", "0.2")
    lines = done.stdout.splitlines()
    assert any(line.startswith("FLOPs per training target") and line.endswith(" M") for line in lines)
    rows = [line for line in lines if line.startswith(("SGEMM", "char-RNN training"))]
    assert len(rows) == 3 and all(float(row.split()[-2]) > 0 for row in rows)
    # the goal's figure: five paired rounds (SGEMM, then training batches) and their median
    rounds = [line.split() for line in lines if re.match(r"^[1-5] +[0-9.]+ +[0-9.]+ +[0-9]+%$", line)]
    assert [row[0] for row in rounds] == ["1", "2", "3", "4", "5"], done.stdout
    assert any(line.startswith("median ") and "(rounds: " in line for line in lines)
    assert "paired: a 2048^3 SGEMM (0.1 s)" in done.stdout
    assert any(line.startswith("goal: training at ") and "(the median round)" in line for line in lines)
    # where a batch's time goes: six phases (seven with a weight average) and their sum, each with its GEMMs'
    # estimate and the rest
    averaged = ["weight"] if load_params(ROOT / "params.yaml").charrnn.weight_average else []
    phases = ["input", "LSTM", "output", "backward:", "backward:", "clip,", *averaged, "all"]
    start = next(n for n, line in enumerate(lines) if line.startswith("where a training batch's time goes"))
    table = lines[start + 2:start + 2 + len(phases)]
    assert [row.split()[0] for row in table] == phases, done.stdout
    shares = [float(row.split()[-3].rstrip("%")) for row in table[:-1]]
    assert abs(sum(shares) - 100) < 1 and all(share >= 0 for share in shares)
    assert float(table[1].split()[-2]) > 0  # the LSTM's forward has GEMMs
    # the steps' two versions, timed batch by batch (setup builds the compiled ones)
    timed = dict(re.findall(r"^(compiled loops|torch operations) .*?([0-9.]+) ms/batch", done.stdout, re.M))
    assert set(timed) == {"compiled loops", "torch operations"}, done.stdout
    assert all(float(ms) > 0 for ms in timed.values()) and "of the time (the same bits)" in done.stdout


def test_charrnn_benchmark_pairs_quiet_and_busy_training_in_rounds(tmp_path):
    done = charrnn_throughput(tmp_path, "contention", "--rounds", "2")
    lines = done.stdout.splitlines()
    rounds = [line.split() for line in lines if re.match(r"^[12] ", line)]
    assert [row[0] for row in rounds] == ["1", "2"], done.stdout
    for row in rounds:  # fixed quiet, busy, share; auto quiet, busy, share; auto against fixed quiet; auto's threads
        speeds = [float(row[i].replace(",", "")) for i in (1, 2, 4, 5)]
        assert all(speed > 0 for speed in speeds), row
        # each share is the ratio of the two speeds before they were rounded for print: within a percent of these
        assert abs(int(row[3].rstrip("%")) - 100 * speeds[1] / speeds[0]) <= 1, row
        assert abs(int(row[6].rstrip("%")) - 100 * speeds[3] / speeds[2]) <= 1, row
        assert " at the end, " in " ".join(row) or "all, no change" in " ".join(row)
    shares = sorted(int(row[6].rstrip("%")) for row in rounds)
    goal = next(line for line in lines if line.startswith("goal: beside one busy process"))
    assert f"(the median round) (rounds: {shares[0]}%-{shares[1]}%) >= 50%: " in goal, goal
    assert any(line.startswith("goal: quiet, it runs at ") for line in lines)
    assert subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True).returncode == 1  # ended


def test_stage_start_benchmark_times_torchs_compile_hooks_against_the_projects_calls():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stage_start.py"), "--rounds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("in fresh processes, 1 alternating round (median [range]):")
    assert lines[1].startswith("  torch: its optimizer and meta-device calls") and lines[1].endswith("loaded: yes")
    assert lines[2].startswith("  rnnpipe.core.optim and rnnpipe.core.checkpoint") and lines[2].endswith("loaded: no")
    assert lines[4].startswith("saved per process that trains and loads a model: ")


@pytest.mark.parametrize("rounds", ["0", "51", "x"])
def test_stage_start_benchmark_refuses_a_bad_round_count_in_one_line(rounds):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stage_start.py"), "--rounds", rounds],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("error: ") and "--rounds" in done.stderr

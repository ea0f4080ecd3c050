"""Byte-identical outputs across CPUs and thread counts, emulated on one machine; a fresh clone shows HEAD's metrics.

Another CPU is emulated by what makes a CPU differ for the numeric libraries: the instruction-set path each one
takes. The shell's settings below force other paths; the pipeline pins its own (params.yaml `runtime`), so every
output must keep its md5. The control shows the emulation is real: unpinned, the same setting changes the bytes.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from rnnpipe.core.numerics import PINNED_VARIABLES
from tests.integration.helpers import REPO, RepoCopy, copy_of, make_copy, subprocess_env

pytestmark = pytest.mark.slow

OTHER_CPUS = {
    # ATen's scalar kernels, as on a CPU without AVX2; one thread
    "aten-scalar": ({"ATEN_CPU_CAPABILITY": "default"}, 1),
    # oneDNN limited to SSE4.1; three threads on two cores
    "onednn-sse41": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, 3),
    # MKL's most compatible path, numpy without its AVX2 loops, OpenBLAS for an older core
    "mkl-compatible": ({"MKL_CBWR": "COMPATIBLE", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
                        "OPENBLAS_CORETYPE": "Nehalem"}, 2),
}


def shell_with(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a shell that exported only these settings: without the pinned variables this test process
    set for its own numerics (tests/conftest.py), which a user's shell does not have."""
    return {**{k: v for k, v in subprocess_env().items() if k not in PINNED_VARIABLES}, **settings}


def lock_hashes(copy: RepoCopy) -> dict[str, str]:
    lock = yaml.safe_load((copy.root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


@pytest.mark.parametrize("name", sorted(OTHER_CPUS))
def test_every_output_is_byte_identical_on_another_cpu_and_thread_count(pipeline_run, tmp_path, name):
    reference, _ = pipeline_run
    settings, threads = OTHER_CPUS[name]
    copy = copy_of(reference, tmp_path / "repo", shell_with(settings))
    copy.set_params({"runtime": {"threads": threads}})
    copy.repro("--force")
    expected, got = lock_hashes(reference), lock_hashes(copy)
    assert len(expected) >= 20
    assert {path: md5 for path, md5 in got.items() if expected.get(path) != md5} == {}


def test_a_run_on_this_cpu_reproduces_the_bytes_committed_from_another_machine(tmp_path):
    """The committed dvc.lock holds the bytes of a full default run, the same on every supported CPU. Here,
    whatever this CPU's vendor (rnnpipe.core.intel_paths), the series and the default forecaster must come out
    with its md5s."""
    copy = make_copy(tmp_path / "repo")
    shutil.copy(REPO / "params.yaml", copy.root / "params.yaml")
    copy.repro("train_forecaster")
    committed = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    expected = {out["path"]: out["md5"] for stage in ("prepare_series", "train_forecaster")
                for out in committed[stage]["outs"]}
    got = lock_hashes(copy)
    assert len(expected) >= 8
    assert {path: got.get(path) for path, md5 in expected.items() if got.get(path) != md5} == {}


def test_unpinned_the_same_setting_changes_the_bytes(tmp_path):
    """The control: with runtime.isa native nothing is pinned, and ATen's scalar kernels give another AR(1)."""
    hashes = []
    for env in ({}, {"ATEN_CPU_CAPABILITY": "default"}):
        copy = make_copy(tmp_path / f"repo{len(hashes)}", {"runtime": {"isa": "native"}}, env=subprocess_env(**env))
        copy.repro("prepare_series")
        hashes.append(lock_hashes(copy)["data/series/ar1.csv"])
    assert hashes[0] != hashes[1]


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> RepoCopy:
    """`git clone` of this repository's HEAD: no DVC cache, no remote, no run."""
    root = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
    return RepoCopy(root, subprocess_env())


def committed_metric_files() -> list[str]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return [next(iter(m)) if isinstance(m, dict) else m for s in stages.values() for m in s.get("metrics", [])]


def test_a_fresh_clone_shows_the_committed_metrics_without_running_anything(fresh_clone):
    shown = json.loads(fresh_clone.dvc("metrics", "show", "--json").stdout)
    data = next(iter(shown.values()))["data"]
    for path in committed_metric_files():
        committed = json.loads((fresh_clone.root / path).read_text(encoding="utf-8"))
        assert data[path]["data"] == committed, path
    assert not (fresh_clone.root / "models/charrnn/model.pt").exists()  # nothing ran, nothing was pulled


def test_a_fresh_clone_diffs_and_compares_against_head(fresh_clone):
    assert fresh_clone.dvc("metrics", "diff").returncode == 0
    table = fresh_clone.dvc("exp", "show", "--no-pager", "--md").stdout
    assert "workspace" in table and "test_mse" in table and "bits_per_char" in table
    plots = fresh_clone.dvc("plots", "diff", "HEAD", "--json")
    assert "failed to load" not in plots.stdout + plots.stderr
    rendered = json.loads(plots.stdout)
    assert "errors" not in rendered
    assert {f"plots/{table}.csv" for table in ("forecaster/loss", "forecaster/predictions", "forecaster/forecast",
                                                "charrnn/loss")} <= set(rendered["data"])

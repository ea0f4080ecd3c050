"""scripts/setup.sh: .venv holds exactly the versions constraints.txt pins, pip and setuptools included, and what it
installs is byte-compiled, so no process compiles a library again at import (where PYTHONDONTWRITEBYTECODE is set, a
module without its .pyc is compiled anew by every process that imports it)."""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from rnnpipe.warm.server import WARM_DVC, WARM_LIBRARIES

REPO = Path(__file__).resolve().parents[1]


in_setup_venv = pytest.mark.skipif(Path(sys.prefix).resolve() != (REPO / ".venv").resolve()
                                   or not (REPO / ".venv" / ".rnnpipe-installed").is_file(),
                                   reason="runs in the .venv that scripts/setup.sh installed")


def distribution_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: Jinja2 and jinja2, ruamel.yaml and ruamel-yaml are one


def pinned_versions(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[distribution_key(name)] = version.strip()
    return pins


def test_pinned_versions_reads_names_as_pip_does_and_refuses_a_loose_line():
    assert pinned_versions("# a comment\nJinja2==3.1.6\nruamel.yaml==0.19.1  # why\n\n") == {
        "jinja2": "3.1.6", "ruamel-yaml": "0.19.1"}
    with pytest.raises(AssertionError, match="'torch>=2.13' is not NAME==VERSION"):
        pinned_versions("torch>=2.13\n")


def test_constraints_pin_every_package_exactly_once():
    lines = [line.split("#", 1)[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    names = [distribution_key(line.partition("==")[0]) for line in lines if line]
    assert len(names) == len(pinned_versions((REPO / "constraints.txt").read_text()))
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@in_setup_venv
def test_the_venv_holds_exactly_the_pinned_versions():
    pins = pinned_versions((REPO / "constraints.txt").read_text())
    installed = {distribution_key(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    unpinned = sorted(f"{name}=={version}" for name, version in installed.items()
                      if name not in pins and name != "rnnpipe")
    assert unpinned == [], f"installed but not pinned in constraints.txt: {unpinned}"
    # a local version label names the build of the pinned version: torch 2.13.0+cpu is torch==2.13.0
    other = {name: version for name, version in installed.items()
             if name in pins and version.split("+", 1)[0] != pins[name]}
    assert other == {}, f"installed at other versions than constraints.txt pins: {other}"


@in_setup_venv
def test_the_libraries_a_stage_loads_are_byte_compiled():
    for name in (*WARM_LIBRARIES, *WARM_DVC):  # what stages and dvc import (the warm stage server preloads them)
        importlib.import_module(name)
    site = sysconfig.get_path("purelib") + os.sep
    loaded = [module.__file__ for module in list(sys.modules.values())
              if (getattr(module, "__file__", None) or "").startswith(site) and module.__file__.endswith(".py")]
    assert len(loaded) > 1000  # torch, mlflow, dvc and the rest
    missing = [path for path in loaded if not os.path.exists(importlib.util.cache_from_source(path))]
    assert missing == [], f"{len(missing)} of {len(loaded)} modules without bytecode: run bash scripts/setup.sh"


@pytest.mark.parametrize("python, line", [
    ("/nonexistent/python3", "error: PYTHON = '/nonexistent/python3' is not found: allowed is a Python >= 3.11; set "
                             "PYTHON=/path/to/python3.11"),
    ("/bin/true", "error: rnnpipe needs Python >= 3.11; '/bin/true' is "),
])
def test_setup_refuses_a_python_it_cannot_use_in_one_line_before_any_work(tmp_path, python, line):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHON": python})
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(line), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scripts"]  # no .venv begun


@in_setup_venv
def test_a_venv_with_more_extras_serves_a_setup_that_asks_for_fewer():
    """scripts/test.sh installs the team extra; command 1 asks for none: it finds .venv as it is and installs nothing
    (before, each command reinstalled what the other had stamped)."""
    stamp = REPO / ".venv" / ".rnnpipe-installed"
    before = stamp.read_text()
    env = {key: value for key, value in os.environ.items() if key != "RNNPIPE_EXTRAS"}
    for extras in ("", before.splitlines()[1] if len(before.splitlines()) > 1 else ""):
        done = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], capture_output=True, text=True,
                              timeout=120, env={**env, "RNNPIPE_EXTRAS": extras})
        assert done.returncode == 0 and "installing" not in done.stdout, done.stdout + done.stderr
    assert stamp.read_text() == before

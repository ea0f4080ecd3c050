"""scripts/setup.sh: what it installs is byte-compiled, so no process compiles a library again at import (where
PYTHONDONTWRITEBYTECODE is set, a module without its .pyc is compiled anew by every process that imports it)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from rnnpipe.warm.server import WARM_DVC, WARM_LIBRARIES

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(Path(sys.prefix).resolve() != (REPO / ".venv").resolve()
                    or not (REPO / ".venv" / ".rnnpipe-installed").is_file(),
                    reason="runs in the .venv that scripts/setup.sh installed")
def test_the_libraries_a_stage_loads_are_byte_compiled():
    for name in (*WARM_LIBRARIES, *WARM_DVC):  # what stages and dvc import (the warm stage server preloads them)
        importlib.import_module(name)
    site = sysconfig.get_path("purelib") + os.sep
    loaded = [module.__file__ for module in list(sys.modules.values())
              if (getattr(module, "__file__", None) or "").startswith(site) and module.__file__.endswith(".py")]
    assert len(loaded) > 1000  # torch, mlflow, dvc and the rest
    missing = [path for path in loaded if not os.path.exists(importlib.util.cache_from_source(path))]
    assert missing == [], f"{len(missing)} of {len(loaded)} modules without bytecode: run bash scripts/setup.sh"

"""Every test process runs with the numerics the pipeline runs with: params.yaml `runtime`, pinned before any test
module imports torch or numpy (pytest loads this file first)."""
from pathlib import Path

from rnnpipe.core.params import load_params
from rnnpipe.core.runtime import pin

pin(load_params(Path(__file__).resolve().parents[1] / "params.yaml").runtime)

"""Every test process runs with the numerics the pipeline runs with: params.yaml `runtime`, applied before any test
module imports torch or numpy (pytest configures this file's plugin before it collects a test module)."""
from pathlib import Path

from rnnpipe.params import load_params
from rnnpipe.core.numerics import apply_runtime

pytest_plugins = ["tests.schedule"]


def pytest_configure(config):
    # On a non-Intel CPU apply_runtime() restarts this process once (rnnpipe.core.intel_paths): it must inherit the
    # terminal, not the files pytest captures output into.
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        apply_runtime(load_params(Path(__file__).resolve().parents[1] / "params.yaml").runtime)
    finally:
        if capture is not None:
            capture.resume_global_capture()


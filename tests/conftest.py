"""Every test process runs with the numerics the pipeline runs with: params.yaml `runtime`, pinned before any test
module imports torch or numpy (pytest configures this file's plugin before it collects a test module)."""
from pathlib import Path

from rnnpipe.core.params import load_params
from rnnpipe.core.runtime import pin


def pytest_configure(config):
    # On a non-Intel CPU pin() restarts this process once (rnnpipe.core.mkl_vendor): it must inherit the terminal,
    # not the files pytest captures output into.
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        pin(load_params(Path(__file__).resolve().parents[1] / "params.yaml").runtime)
    finally:
        if capture is not None:
            capture.resume_global_capture()


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (scripts/test.sh runs `-n 2 --dist loadgroup`): each test file stays on one worker, so its
    module fixtures (a pipeline run, a server) are made once; the files that read the shared tiny pipeline run (the
    session fixture `pipeline_run`) share one worker, so that run is made once too."""
    import pytest

    files_on_shared_run = {item.nodeid.split("::")[0] for item in items if "pipeline_run" in item.fixturenames}
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("pipeline_run" if path in files_on_shared_run else path))

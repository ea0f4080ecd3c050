"""Every MLflow convention of the project: where runs are stored (store), what a run holds (runs), which registered
version is @champion (registry). It writes to MLflow only, never to a pipeline output, so no stage depends on it:
a change here reruns nothing (tests/test_stage_deps.py keeps that true).

    python -m rnnpipe.tracking init [URI]          # create the store and every model's experiment up front
    python -m rnnpipe.tracking champions           # each model's @champion and every version's test figure
    python -m rnnpipe.tracking promote charrnn 7   # make version 7 the champion by hand
"""

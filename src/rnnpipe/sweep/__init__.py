"""Sweeps: a sweep file (sweeps/<name>.yaml) becomes an Optuna study whose trials are DVC experiments with MLflow
runs. The stages see this package only through rnnpipe.sweep.report (kept free of imports until a trial runs)."""

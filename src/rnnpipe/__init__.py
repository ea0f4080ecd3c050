"""rnnpipe: a reproducible, DVC-orchestrated PyTorch RNN workflow (forecaster + char-RNN), tracked in MLflow."""

__version__ = "0.1.0"

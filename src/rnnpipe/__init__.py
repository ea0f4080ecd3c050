"""rnnpipe: a reproducible, DVC-orchestrated PyTorch RNN workflow (forecaster + char-RNN), tracked in MLflow.

core/ is shared by both models; series/ makes the synthetic series; forecaster/ and charrnn/ are one home per model.
"""

__version__ = "0.1.0"

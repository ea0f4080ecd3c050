"""The forecaster as tracking and the registry see it."""
from rnnpipe.core.descriptor import ModelDescriptor

DESCRIPTOR = ModelDescriptor(
    kind="forecaster",
    experiment="rnnpipe-forecaster",
    ranking_metric="test_mse",
    lower_is_better=True,
    headline_metrics=("test_mse", "test_mse_over_noise_floor", "test_mse_over_ridge_ar", "forecast_mse_vs_clean",
                      "best_val_mse", "train_seconds"),
    headline_params=("forecaster.cell", "forecaster.hidden_size", "forecaster.seq_length", "forecaster.linear_window",
                     "forecaster.epochs"),
)

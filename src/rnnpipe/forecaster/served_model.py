"""The forecaster's MLflow model, logged from code: MLflow runs this file to load the model, so a registered model
holds code and a checkpoint, never a pickled object (rnnpipe.forecaster.serving has the model itself)."""
from mlflow.models import set_model

from rnnpipe.forecaster.serving import ForecasterSeries

set_model(ForecasterSeries())

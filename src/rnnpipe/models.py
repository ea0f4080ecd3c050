"""The models this project trains, by the name commands use for them (`promote charrnn 7`, a sweep's model)."""
from rnnpipe.charrnn.descriptor import DESCRIPTOR as CHARRNN
from rnnpipe.core.descriptor import ModelDescriptor
from rnnpipe.forecaster.descriptor import DESCRIPTOR as FORECASTER

MODELS: dict[str, ModelDescriptor] = {model.kind: model for model in (FORECASTER, CHARRNN)}

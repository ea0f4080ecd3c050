"""Errors a user can cause. Stages print them as one line and exit non-zero (see rnnpipe.cli)."""


class RnnpipeError(Exception):
    """Base class: the message is the whole story, shown to the user as a single line."""


class ParamsError(RnnpipeError):
    pass


class CorpusError(RnnpipeError):
    pass


class CheckpointError(RnnpipeError):
    pass


class TrackingError(RnnpipeError):
    pass


class GenerationError(RnnpipeError):
    pass


class TrainingError(RnnpipeError):
    pass

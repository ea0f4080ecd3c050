"""Errors a user can cause. Stages print them as one line and exit non-zero (see rnnpipe.core.stage)."""


def first_line(exc: BaseException) -> str:
    """A library exception's message cut to one line (at most 300 characters), or its type when it has none."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


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

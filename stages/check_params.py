"""Stage check_params: params.yaml and the inputs, checked before any other stage runs (rnnpipe.checks).

DVC deletes a stage's old outputs before it runs the stage's command, so a stage that found a bad value itself
would already have removed its previous outputs, and a prompt the corpus cannot produce would only be found after
the char-RNN trained. Every other stage depends on this one's marker file, so a problem stops the pipeline here,
with one line, and nothing else is touched. The marker never changes, so a valid change to a param reruns only
the stages that depend on that param.
"""
from rnnpipe.checks import check_inputs
from rnnpipe.core.io import write_text
from rnnpipe.params import Params


def main(params: Params, marker: str = "data/params.ok") -> None:
    print(check_inputs(params))
    write_text(marker, "params.yaml is valid\n")

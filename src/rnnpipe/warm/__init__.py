"""A warm interpreter for stages: `python -m rnnpipe.warm.server SOCKET` loads torch, MLflow, pandas, matplotlib
and dvc once, then runs each stage (or a trial's dvc command) sent to it in a fork of itself.

A sweep trial is a `dvc exp run` of two or three short stages, and each stage process spends seconds importing
libraries before its work starts (torch, MLflow and its SQL store, pandas, matplotlib: about 4 s here; a tiny
forecaster trains in 0.1 s). A sweep agent starts one server and sets RNNPIPE_STAGE_SERVER to its socket for its
trials: `python -m rnnpipe.stage NAME`, as dvc runs it, then hands its command, working directory, environment,
import path and standard streams to the server and waits. The fork runs exactly what the cold process would run:

- the project's code is imported afresh in every fork from the stage's own import path (the temporary workspace of
  the experiment), never taken from the server: only third-party libraries are warm;
- the libraries' numerics were set when they loaded (rnnpipe.core.numerics), so a stage whose params pin other
  settings than the server's (another runtime.isa, the Intel-paths library) is refused and runs cold;
- the stage's exit code, its output on the caller's own streams, and the signals sent to the caller (forwarded to
  the fork) behave as in a cold process; if the caller dies, the fork ends with it;
- nothing here changes an output byte: tests/integration/test_warm.py compares the outputs of cold and
  warm runs.

A trial's `dvc exp run` goes there too (its guard, rnnpipe.sweep.guard, hands it over): dvc's own modules load once
(about 1,500 of them on a trial's way), and the fork starts a process group of its own, so the guard watches and ends
dvc and the stages it runs as it would a child of its own.

Without RNNPIPE_STAGE_SERVER, or when the server cannot be reached, `python -m rnnpipe.stage` runs cold as always.
rnnpipe.warm.client is the caller's side (standard library only: it starts in milliseconds); rnnpipe.warm.server
the server and its forks.
"""

ADDRESS_ENV = "RNNPIPE_STAGE_SERVER"
MESSAGE_BYTES = 1 << 20

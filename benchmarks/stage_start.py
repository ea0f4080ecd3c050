"""What torch's compile hooks would cost every stage that trains or loads a model, measured in fresh processes.

    python benchmarks/stage_start.py              # 5 rounds
    python benchmarks/stage_start.py --rounds 9

torch's optimizers import torch._dynamo on their first call, and a model built on the meta device and moved to the
CPU (how a checkpoint is loaded) goes through Python references that import it and torch's symbolic shapes: once per
process, as long as importing torch itself. Each round starts two processes that import torch and build the default
char-RNN, then time the same work: an Adam step and a meta-device load, once with torch's own calls and once with
the project's (rnnpipe.core.optim, rnnpipe.core.checkpoint). The rounds alternate the two, so a slow minute of the
host lands on both; the table gives the median and the range, and the import of torch itself for scale.
"""
from __future__ import annotations

import statistics
import subprocess
import sys

from arguments import ROOT, ArgumentParser, check_integer  # benchmarks/, beside this script

WORK = """
import sys, time
start = time.perf_counter()
import torch
torch_seconds = time.perf_counter() - start
from rnnpipe.charrnn.model import CharRNN, CharRNNConfig
from rnnpipe.core import checkpoint, optim
from rnnpipe.params import load_params

vocab = list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяabcdefghijklmnopqrstuvwxyz0123456789 .,?;:")
config = CharRNNConfig.from_params(load_params({params!r}).charrnn, vocab)
model = CharRNN(config)
batch = torch.randint(len(vocab), (8, 32))
start = time.perf_counter()
if {stock!r}:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, fused=True)
else:
    optimizer = optim.Adam(model.parameters(), lr=0.001, fused=True)
optimizer.zero_grad(set_to_none=True)
model(batch)[0].sum().backward()
optimizer.step()
if {stock!r}:
    with torch.device("meta"):
        skeleton = CharRNN(config)
    loaded = skeleton.to_empty(device="cpu")
else:
    loaded = checkpoint.materialised(checkpoint.meta_model(CharRNN, config))
loaded.load_state_dict(model.state_dict())
print(time.perf_counter() - start, torch_seconds, "torch._dynamo" in sys.modules)
"""


def measure(stock: bool) -> tuple[float, float, bool]:
    code = WORK.format(params=str(ROOT / "params.yaml"), stock=stock)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"error: the measuring process failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    seconds, torch_seconds, compiler = done.stdout.split()
    return float(seconds), float(torch_seconds), compiler == "True"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} s  [{min(values):.3f}-{max(values):.3f}]"


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="pairs of fresh processes (default 5)")
    args = parser.parse_args()
    check_integer("--rounds", args.rounds, 1, 50)

    runs: dict[bool, list[tuple[float, float, bool]]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for stock in ((True, False) if round_ % 2 == 0 else (False, True)):
            runs[stock].append(measure(stock))
    stock, project = ([seconds for seconds, _, _ in runs[kind]] for kind in (True, False))
    imports = [torch for kind in runs.values() for _, torch, _ in kind]
    loaded = {kind: "yes" if all(compiler for _, _, compiler in runs[kind]) else
              "no" if not any(compiler for _, _, compiler in runs[kind]) else "sometimes" for kind in runs}
    print(f"an Adam step and a meta-device load of the default char-RNN in fresh processes, {args.rounds} "
          f"alternating round{'s' * (args.rounds > 1)} (median [range]):")
    print(f"  {'torch: its optimizer and meta-device calls':<46}{spread(stock)}   torch._dynamo loaded: {loaded[True]}")
    print(f"  {'rnnpipe.core.optim and rnnpipe.core.checkpoint':<46}{spread(project)}   "
          f"torch._dynamo loaded: {loaded[False]}")
    print(f"  {'import torch, for scale':<46}{spread(imports)}")
    saved = statistics.median(stock) - statistics.median(project)
    print(f"saved per process that trains and loads a model: {saved:.3f} s "
          f"({saved / statistics.median(imports):.0%} of importing torch)")


if __name__ == "__main__":
    main()

"""Char-RNN benchmark on the default corpus (params.yaml `corpus`); every figure is measured in this one run.

    python benchmarks/charrnn.py [--parts course numerics contention rate dropout default] [--seconds 20] [--chars 200000]
                                 [--rounds 3] [--gemm-seconds 2]
                                 [--corpus FILE]   (default: the corpus params.yaml names)
                                 [--set SECTION.KEY=VALUE ...]   (params.yaml overrides, as dvc exp run -S)

course    training targets/s: the course implementation (a Dataset that builds one-hot rows in a Python loop per
          sample, many-to-one windows of 10 chars, DataLoader batch 8, nn.RNN hidden 64 + Linear, Adam 1e-3) against
          the project's trainer with the course's settings (`scripts/course.sh text`, src/rnnpipe/course.py), one
          epoch over --chars characters, in its many_to_one mode and in many_to_many with params.yaml's batch and
          BPTT length.
numerics  training targets/s of the default char-RNN (params.yaml `charrnn`, one epoch over --chars characters)
          with the pinned numerics (params.yaml `runtime`), next to the unpinned default of this machine and next
          to an AVX2 machine's own unpinned default (emulated here by capping each library at AVX2), with the
          project's FastLSTM and with torch's own nn.LSTM (which trains through oneDNN when the pin is off). Each
          runs in its own process: the settings apply when torch loads.
contention
          training targets/s of the default char-RNN with one CPU-bound process beside it (started here), next to
          the quiet figure, with the thread count fixed at every core and with runtime.threads: auto (load-aware),
          in --rounds rounds (each quiet, then busy: a host whose speed moves moves both). Goals, on the median
          round: under contention at least half the quiet figure, at no cost on a quiet machine.
rate      achieved GFLOP/s of the default char-RNN's training (FLOPs per target written out in rnnpipe.core.cost, times
          targets/s over one epoch of --chars characters, its validation included, the fits after training not) next to
          this machine's pinned SGEMM rate measured in the same process: a large square GEMM and the LSTM's own per-step
          shape; and the ceiling the GEMMs alone set at those two rates. Then the same in paired rounds (the large
          SGEMM, then 20 training batches, five times: a host whose speed moves moves both). Goal: the median round's
          training at >= 65% of the large SGEMM's rate. Then where a training batch's time goes, phase by phase, and how
          much of each phase is outside its GEMMs; then training batches with the LSTM's steps as compiled loops against
          their torch operations.
dropout   milliseconds per mask of the default char-RNN's output dropout ([batch, seq_length, hidden_size]): torch's
          F.dropout (one Bernoulli draw per element) against the project's (rnnpipe.core.dropout), same process.
default   held-out bits/char of the default config, trained from scratch (minutes), with its n-gram part and its
          RNN alone, against the unigram and Kneser-Ney n-gram baselines on the same test targets.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from arguments import ArgumentParser, check_integer, check_seconds, prepared_corpus, project_params, refuse

# How a process is set up, per --measure mode: "pinned" is the pipeline's own apply_runtime; the others are what
# runs without it, here or on a machine whose CPU stops at AVX2.
UNPINNED = {
    "native": {},
    "avx2-machine": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
# The same with torch's own nn.LSTM (through oneDNN, unpinned) instead of the project's FastLSTM.
UNPINNED.update({f"{mode}-stock": settings for mode, settings in UNPINNED.items()})
NUMERIC_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                     "NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")


def start(mode: str, corpus: str | None = None, sets: list[str] = ()):
    """Set up this process's numerics for `mode` (before torch loads) and return the params."""
    from rnnpipe.core.numerics import apply_runtime

    params = project_params(sets, corpus)
    if mode in ("pinned", "pinned-stock"):
        apply_runtime(params.runtime)
    else:
        for name in NUMERIC_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(UNPINNED[mode])
    if mode.endswith("-stock"):  # torch's own nn.LSTM in place of FastLSTM, for comparison
        from torch import nn

        from rnnpipe.core import recurrent

        recurrent.CELL_TYPES["lstm"] = nn.LSTM
    return params


def load_corpus(params, corpus_flag: str | None = None):
    from rnnpipe.charrnn.corpus import encode

    corpus = prepared_corpus(params, corpus_flag)
    ids = [encode(corpus.splits[name], corpus.vocab) for name in ("train", "val", "test")]
    return corpus, ids


def project_targets_per_second(train_ids, val_ids, vocab, base, threads=None, **changes) -> float:
    from rnnpipe.charrnn.train import train_charrnn

    _, result = train_charrnn(train_ids, val_ids, vocab, base.model_copy(update=changes), show_progress=False,
                              threads=threads)
    # FitResult.seconds includes the per-epoch validation (the figure is conservative) and the fits after training
    # (temperature, n-gram part: no training targets), which are taken out.
    return result.targets_seen / (result.seconds - result.ngram_seconds)


def measure(mode: str, chars: int, corpus: str | None, sets: list[str]) -> None:
    """Child process: one epoch of the default char-RNN over `chars` characters; prints one JSON line."""
    params = start(mode, corpus, sets)
    import torch

    from rnnpipe.core.determinism import configure_determinism
    from rnnpipe.core.threads import max_threads

    configure_determinism(0)
    corpus, (train_ids, val_ids, _) = load_corpus(params)
    most = max_threads("auto")
    rate = project_targets_per_second(train_ids[:chars], val_ids[:2000], corpus.vocab, params.charrnn, epochs=1)
    from rnnpipe.core.recurrent import CELL_TYPES

    print(json.dumps({"mode": mode, "targets_per_second": rate, "threads": most, "lstm": CELL_TYPES["lstm"].__name__,
                      "aten": torch.backends.cpu.get_cpu_capability(), "onednn": torch.backends.mkldnn.enabled}))


def in_child(mode: str, chars: int, forward: list[str]) -> dict:
    """Measure in a fresh process; `forward`: the --corpus and --set arguments this run was given."""
    command = [sys.executable, __file__, "--measure", mode, "--chars", str(chars)] + forward
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def part_course(params, corpus, ids, seconds: float, chars: int) -> None:
    train_ids, val_ids, _ = ids
    from course_charrnn import course_targets_per_second  # benchmarks/, beside this script

    from rnnpipe import course

    size = {**course.section("text", "charrnn"), "epochs": 1}  # scripts/course.sh text, one epoch
    print(f"\ncourse: training throughput at the course model size ({size['cell'].upper()} hidden "
          f"{size['hidden_size']}, {size['input'].replace('_', '-')} input)")
    loop = course_targets_per_second(corpus.splits["train"], corpus.vocab, seconds)
    sample = train_ids[:chars]  # one epoch over --chars characters per measurement
    p = params.charrnn
    m2o = project_targets_per_second(sample, val_ids[:5000], corpus.vocab, p, **size)
    m2m = project_targets_per_second(sample, val_ids[:5000], corpus.vocab, p, **{
        **size, "mode": "many_to_many", "sentence_windows": False, "seq_length": p.seq_length,
        "batch_size": p.batch_size})
    print(f"{'implementation':<58} {'targets/s':>12} {'ratio':>8}")
    print(f"{'course: per-sample one-hot Dataset, many-to-one, batch 8':<58} {loop:>12,.0f} {1:>8.1f}")
    label = f"project, many_to_one, batch {size['batch_size']} (tensor-gathered windows)"
    print(f"{label:<58} {m2o:>12,.0f} {m2o / loop:>8.1f}")
    label = f"project, many_to_many, batch {p.batch_size}, BPTT {p.seq_length}"
    print(f"{label:<58} {m2m:>12,.0f} {m2m / loop:>8.1f}")


def part_numerics(params, chars: int, forward: list[str]) -> None:
    p = params.charrnn
    print(f"\nnumerics: training throughput of the default char-RNN ({p.cell} {p.hidden_size}, batch {p.batch_size}, "
          f"BPTT {p.seq_length}), one epoch over {chars:,} characters, each setting in its own process")
    modes = ("native", "native-stock", "avx2-machine", "avx2-machine-stock", "pinned-stock", "pinned")
    rows = {mode: in_child(mode, chars, forward) for mode in modes}
    pinned = rows["pinned"]["targets_per_second"]
    lstm = p.cell == "lstm"  # otherwise FastLSTM is not involved and each "-stock" row repeats its twin
    labels = {"native": "unpinned, this machine's default", "native-stock": "unpinned, this machine, torch's nn.LSTM",
              "avx2-machine": "unpinned, an AVX2 machine's default",
              "avx2-machine-stock": "unpinned, AVX2, torch's own nn.LSTM",
              "pinned-stock": "pinned, torch's own nn.LSTM",
              "pinned": f"pinned (runtime.isa: {params.runtime.isa})"}
    print(f"{'setting':<40} {'ATen':>7} {'oneDNN':>7} {'LSTM':>9} {'threads':>8} {'targets/s':>11} "
          f"{'pinned costs':>13}")
    for mode, row in rows.items():
        cost = "" if mode == "pinned" else f"{1 - pinned / row['targets_per_second']:.0%}"
        print(f"{labels[mode]:<40} {row['aten']:>7} {'on' if row['onednn'] else 'off':>7} {row['lstm']:>9} "
              f"{row['threads']:>8} {row['targets_per_second']:>11,.0f} {cost:>13}")
    if lstm:
        print("FastLSTM (src/rnnpipe/core/lstm.py) is what the project trains with, pinned or not; torch's nn.LSTM "
              "trains through oneDNN where it is on")
        print(f"FastLSTM against torch's nn.LSTM, both pinned: "
              f"{pinned / rows['pinned-stock']['targets_per_second']:.2f}x the training speed")
    best = max(rows[mode]["targets_per_second"] for mode in ("avx2-machine", "avx2-machine-stock"))
    cost = 1 - pinned / best
    native = max(rows[mode]["targets_per_second"] for mode in ("native", "native-stock"))
    print(f"goal: pinning costs {cost:.0%} against the faster default of the machines it reproduces on "
          f"(AVX2), < 10%: {'met' if cost < 0.10 else 'NOT met'}; against the faster default of this machine "
          f"({rows['native']['aten']}): {1 - pinned / native:.0%}")


def part_contention(params, corpus, ids, chars: int, rounds: int) -> None:
    """Quiet and busy in turn, `rounds` times: each round measures both thread policies quiet, then both beside one
    CPU-bound process, so each busy figure is compared with the quiet one measured a minute before it (a host whose
    speed moves within minutes moves both); the goals read the median round. Every figure is a fresh model trained
    in this process (pinned like the stages), which starts each at every core."""
    import torch

    from rnnpipe.core.threads import LoadAwareThreads, max_threads

    p = params.charrnn
    train_ids, val_ids, _ = ids
    most = max_threads("auto")

    def one_epoch(load_aware: bool) -> dict:
        torch.set_num_threads(most)
        policy = LoadAwareThreads(most) if load_aware else None
        rate = project_targets_per_second(train_ids[:chars], val_ids[:2000], corpus.vocab, p, policy, epochs=1)
        return {"targets_per_second": rate, "switches": policy.switches if policy else []}

    print(f"\ncontention: training throughput of the default char-RNN ({p.cell} {p.hidden_size}), one epoch over "
          f"{chars:,} characters per figure, quiet and then beside one CPU-bound process this script starts, "
          f"{rounds} round(s)")
    policies = (False, True)  # fixed at every core, load-aware
    print(f"{'round':<6} {'fixed quiet':>12} {'fixed busy':>11} {'busy/quiet':>11} {'auto quiet':>11} "
          f"{'auto busy':>10} {'busy/quiet':>11} {'auto/fixed quiet':>17}  auto's threads (busy)")
    kept, quiet_costs = [], []
    try:
        for round_ in range(1, rounds + 1):
            rows = {}
            for busy in (False, True):
                competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    for load_aware in (policies if not busy else policies[::-1]):  # auto's pair adjacent in time
                        rows[busy, load_aware] = one_epoch(load_aware)
                finally:
                    if competitor is not None:
                        competitor.kill()
                        competitor.wait()
            speed = {key: row["targets_per_second"] for key, row in rows.items()}
            fixed_share, aware_share = (speed[True, a] / speed[False, a] for a in (False, True))
            quiet_ratio = speed[False, True] / speed[False, False]
            switches = rows[True, True]["switches"]
            end = f"{switches[-1][1]} at the end, {len(switches)} change(s)" if switches else "all, no change"
            kept.append(aware_share)
            quiet_costs.append(quiet_ratio)
            print(f"{round_:<6} {speed[False, False]:>12,.0f} {speed[True, False]:>11,.0f} {fixed_share:>11.0%} "
                  f"{speed[False, True]:>11,.0f} {speed[True, True]:>10,.0f} {aware_share:>11.0%} "
                  f"{quiet_ratio:>17.0%}  {end}")
    finally:
        torch.set_num_threads(most)  # the parts after this one train at every core
    busy_share, quiet_share = statistics.median(kept), statistics.median(quiet_costs)
    spread = f" (rounds: {min(kept):.0%}-{max(kept):.0%})" if rounds > 1 else ""
    print(f"goal: beside one busy process, runtime.threads: auto keeps {busy_share:.0%} of its quiet speed "
          f"(the median round){spread} >= 50%: {'met' if busy_share >= 0.5 else 'NOT met'}")
    spread = f" (rounds: {min(quiet_costs):.0%}-{max(quiet_costs):.0%})" if rounds > 1 else ""
    print(f"goal: quiet, it runs at {quiet_share:.0%} of the fixed threads' speed (the median round){spread} "
          f">= 95%: {'met' if quiet_share >= 0.95 else 'NOT met'}")


def part_rate(params, corpus, ids, chars: int, gemm_seconds: float) -> None:
    from gemm_rate import sgemm_gflops  # benchmarks/, beside this script

    from rnnpipe.core.cost import training_flops_per_target
    from rnnpipe.core.threads import max_threads

    train_ids, val_ids, _ = ids
    p = params.charrnn
    vocab = len(corpus.vocab)
    one_hot = p.input == "one_hot"
    flops = training_flops_per_target(p.cell, vocab if one_hot else p.embedding_dim, p.hidden_size, p.num_layers,
                                      vocab, input_gradient=not one_hot)
    threads = max_threads(params.runtime.threads)
    print(f"\nrate: training arithmetic of the default char-RNN ({p.cell} {p.hidden_size} x{p.num_layers}, "
          f"{p.input} {p.embedding_dim}, vocabulary {vocab}, batch {p.batch_size}), pinned, {threads} threads")
    print(f"FLOPs per training target (GEMMs: forward, and twice that backward): {flops / 1e6:.2f} M")

    large = sgemm_gflops(2048, 2048, 2048, gemm_seconds)
    step = sgemm_gflops(p.batch_size, p.hidden_size, 4 * p.hidden_size if p.cell == "lstm" else p.hidden_size,
                        gemm_seconds)
    rate = project_targets_per_second(train_ids[:chars], val_ids[:2000], corpus.vocab, p, epochs=1)
    achieved = rate * flops / 1e9
    # again: the machine's load may have moved while training ran
    large_after = sgemm_gflops(2048, 2048, 2048, gemm_seconds)
    reference = max(large, large_after)
    print(f"{'measured':<52} {'GFLOP/s':>9} {'of large SGEMM':>15}")
    print(f"{'SGEMM 2048 x 2048 x 2048 (best of before/after)':<52} {reference:>9.1f} {1:>15.0%}")
    label = f"SGEMM {p.batch_size} x {p.hidden_size} x {4 * p.hidden_size} (one recurrent step's shape)"
    print(f"{label:<52} {step:>9.1f} {step / reference:>15.0%}")
    label = f"char-RNN training, one epoch, {rate:,.0f} targets/s"
    print(f"{label:<52} {achieved:>9.1f} {achieved / reference:>15.0%}")
    # The recurrent GEMMs (h @ W_hh forward, dgates @ W_hh backward) run one step at a time, at the step shape's
    # rate; the other GEMMs of a batch are large. With no time outside the GEMMs, training would reach:
    gemm_bound = gemm_bound_gflops(flops, p, step, reference)
    label = "GEMMs alone at those two rates (the ceiling)"
    print(f"{label:<52} {gemm_bound:>9.1f} {gemm_bound / reference:>15.0%}")
    consistent = achieved <= gemm_bound and step <= reference
    if not consistent:
        print("the figures disagree (training above the GEMMs' ceiling, or the small GEMM above the large one): "
              "the machine's load changed during the run; run it again when nothing else runs")
    else:
        print(f"time outside the GEMMs (gate functions, dropout masks, optimizer, Python): "
              f"{1 - achieved / gemm_bound:.0%} of training")
    if p.mode == "many_to_many":
        paired_rounds(train_ids[:chars], corpus.vocab, p, flops, gemm_seconds / 2)
    else:  # no batches of the default kind to pair: the epoch's figure decides
        verdict = ("not judged (the figures disagree)" if not consistent
                   else "met" if achieved / reference >= 0.65 else "NOT met")
        print(f"goal: training at {achieved / reference:.0%} of the large SGEMM's rate >= 65%: {verdict}")
    if p.mode == "many_to_many" and p.input == "embedding" and p.cell == "lstm" and p.num_layers == 1:
        phase_split(train_ids[:chars], corpus.vocab, p, flops, step, reference)
    if p.cell == "lstm":
        compiled_step_split(train_ids[:chars], corpus.vocab, p)


def training_parts(p, vocab):
    """The default char-RNN built from p in training mode, its optimizer and its weight average (or None), as
    rnnpipe.charrnn.train builds them."""
    import torch

    from rnnpipe.charrnn.model import CharRNN, CharRNNConfig
    from rnnpipe.charrnn.train import make_optimizer
    from rnnpipe.core.training import WeightAverage

    torch.manual_seed(p.seed)
    model = CharRNN(CharRNNConfig.from_params(p, vocab))
    model.train()
    return model, make_optimizer(model, p), WeightAverage(model, p.weight_average) if p.weight_average else None


def training_step(p, vocab):
    """training_parts(p, vocab), and one training batch of it as rnnpipe.core.training.fit runs one (forward, loss,
    backward, clipping, optimizer step, weight average): step(inputs, targets, state) -> state."""
    import torch

    from rnnpipe.core.recurrent import detach_state

    model, optimizer, averaged = training_parts(p, vocab)

    def step(inputs, targets, state):
        logits, state = model(inputs, state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        optimizer.step()
        if averaged is not None:
            averaged.update()
        return detach_state(state)

    return step


def paired_rounds(train_ids, vocab, p, flops: float, gemm_seconds: float, rounds: int = 5, batches: int = 20,
                  skipped: int = 10) -> None:
    """The goal's figure, robust to a host whose speed moves: the large SGEMM (`gemm_seconds`) and `batches`
    training batches in turn, `rounds` times, each round's training rate against the SGEMM rate measured just
    before it; the median round decides."""
    import itertools

    from gemm_rate import sgemm_gflops  # benchmarks/, beside this script

    from rnnpipe.charrnn.train import tbptt_batches

    step = training_step(p, vocab)
    stream = itertools.cycle(tbptt_batches(train_ids, p.batch_size, p.seq_length))
    state = None
    for _ in range(skipped):  # warm-up
        state = step(*next(stream), state)
    targets = batches * p.batch_size * p.seq_length
    print(f"\npaired: a 2048^3 SGEMM ({gemm_seconds:g} s), then {batches} training batches ({targets:,} targets), "
          f"in turn, {rounds} rounds (after {skipped} unmeasured batches)")
    print(f"{'round':<8} {'SGEMM GFLOP/s':>14} {'training GFLOP/s':>17} {'of SGEMM':>9}")
    ratios = []
    for round_ in range(1, rounds + 1):
        large = sgemm_gflops(2048, 2048, 2048, gemm_seconds)
        start = time.perf_counter()
        for _ in range(batches):
            state = step(*next(stream), state)
        achieved = targets * flops / (time.perf_counter() - start) / 1e9
        ratios.append(achieved / large)
        print(f"{round_:<8} {large:>14.1f} {achieved:>17.1f} {achieved / large:>9.0%}")
    median = statistics.median(ratios)
    print(f"{'median':<8} {'':>14} {'':>17} {median:>9.0%}   (rounds: {min(ratios):.0%}-{max(ratios):.0%})")
    print(f"goal: training at {median:.0%} of the large SGEMM's rate >= 65% (the median round): "
          f"{'met' if median >= 0.65 else 'NOT met'}")


def rate_chars(p) -> int:
    """The fewest --chars the rate part measures: three TBPTT batches, so compiled_step_split times one of each kind
    after its warm-up batch."""
    return (2 * p.seq_length + 1) * p.batch_size + 1


def compiled_step_split(train_ids, vocab, p, skipped: int = 10) -> None:
    """The LSTM's steps as compiled loops (rnnpipe.core.lstm_step) against their torch operations: the default
    char-RNN's training batches, the two alternating batch by batch (the same bits either way, so the training is
    the same as with either alone)."""
    from rnnpipe.charrnn.train import tbptt_batches
    from rnnpipe.core import lstm, lstm_step

    library = lstm_step.load()
    if library is None:
        print("\nthe LSTM's steps run as torch operations here: their compiled loops are not built "
              "(bash scripts/setup.sh builds them with a C compiler) or ATen's kernels here are not AVX2/AVX-512")
        return
    passes = "forward and backward" if library.forward is not None else "backward only (ATen's kernels: AVX-512)"
    step = training_step(p, vocab)
    seconds, counted = {True: 0.0, False: 0.0}, {True: 0, False: 0}
    batches = tbptt_batches(train_ids, p.batch_size, p.seq_length)
    skipped = min(skipped, len(batches) // 2)
    if len(batches) - skipped < 2:  # a measured batch of each kind
        print(f"\nthe LSTM's steps: {len(batches)} training batches are too few to time the compiled loops against "
              "torch operations; a longer corpus gives more")
        return
    state = None
    try:
        for n, (inputs, targets) in enumerate(batches):
            lstm.compiled_step = compiled = n % 2 == 0
            t0 = time.perf_counter()
            state = step(inputs, targets, state)
            if n >= skipped:
                seconds[compiled] += time.perf_counter() - t0
                counted[compiled] += 1
    finally:
        lstm.compiled_step = True
    ms = {key: seconds[key] / max(counted[key], 1) * 1e3 for key in seconds}
    print(f"\nthe LSTM's steps, {passes}, {counted[True]} + {counted[False]} training batches alternating "
          f"(after {skipped} unmeasured)")
    print(f"{'compiled loops (rnnpipe.core.lstm_step)':<52} {ms[True]:>9.2f} ms/batch")
    print(f"{'torch operations (7 forward, 15 backward per step)':<52} {ms[False]:>9.2f} ms/batch")
    print(f"the compiled loops' batches take {ms[True] / ms[False]:.1%} of the time (the same bits)")


def phase_split(train_ids, vocab, p, flops: float, step_gflops: float, large_gflops: float, skipped: int = 10
                ) -> None:
    """Where a training batch's time goes: the default char-RNN's batches (as rnnpipe.core.training.fit runs
    them) timed phase by phase, each phase's GEMMs estimated from their FLOPs at the two measured SGEMM rates
    (the recurrent steps at the step shape's rate, the rest at the large one); the remainder is the phase's time
    outside its GEMMs."""
    from torch import nn

    from rnnpipe.charrnn.train import tbptt_batches
    from rnnpipe.core.recurrent import detach_state

    model, optimizer, averaged = training_parts(p, vocab)
    rnn, head, vocab_size = model.net.rnn, model.net.head, len(vocab)
    targets_per_batch = p.batch_size * p.seq_length
    hidden, width = p.hidden_size, p.embedding_dim
    per_target = {  # FLOPs per training target: (at the step shape's rate, at the large rate)
        "input encoding and its dropout": (0, 0),
        "LSTM forward": (2 * 4 * hidden * hidden, 2 * 4 * hidden * width),
        "output dropout, head and loss": (0, 2 * hidden * vocab_size),
        "backward: head": (0, 2 * 2 * hidden * vocab_size),
        "backward: LSTM": (2 * 4 * hidden * hidden, 2 * 4 * hidden * hidden + 2 * 2 * 4 * hidden * width),
        "clip, optimizer step, zero_grad": (0, 0),
    }
    if averaged is not None:
        per_target["weight average (charrnn.weight_average)"] = (0, 0)
    split = sum(at_step + at_large for at_step, at_large in per_target.values())
    if split != flops:  # the phases' FLOPs must be rnnpipe.core.cost's, split up
        raise RuntimeError(f"the phases' FLOPs per target ({split:,}) differ from rnnpipe.core.cost's ({flops:,.0f})")
    seconds = dict.fromkeys(per_target, 0.0)
    batches = tbptt_batches(train_ids, p.batch_size, p.seq_length)
    skipped = min(skipped, len(batches) // 2)
    state, timed = None, 0
    marks: list[float] = []
    for n, (inputs, targets) in enumerate(batches):
        t0 = time.perf_counter()
        x = model.input_dropout(model.encode(inputs))
        t1 = time.perf_counter()
        out, state = rnn(x, state)
        t2 = time.perf_counter()
        logits = head(model.net.dropout(out))
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
        t3 = time.perf_counter()
        out.register_hook(lambda grad: marks.append(time.perf_counter()))  # the head's backward is done
        loss.backward()
        t4 = time.perf_counter()
        if p.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t5 = time.perf_counter()
        if averaged is not None:
            averaged.update()
        t6 = time.perf_counter()
        state = detach_state(state)
        if n < skipped:  # warm-up
            continue
        timed += 1
        for phase, spent in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, marks[-1] - t3, t4 - marks[-1], t5 - t4,
                                          t6 - t5)):
            seconds[phase] += spent
    total = sum(seconds.values())
    print(f"\nwhere a training batch's time goes ({timed} batches of {targets_per_batch} targets, after "
          f"{skipped} unmeasured; the GEMMs estimated from their FLOPs at the rates above)")
    print(f"{'phase':<40} {'ms/batch':>9} {'share':>7} {'GEMMs ms':>9} {'outside ms':>11}")
    outside_total = 0.0
    for phase, spent in seconds.items():
        at_step, at_large = per_target[phase]
        gemm_ms = targets_per_batch * (at_step / step_gflops + at_large / large_gflops) / 1e6
        ms = spent / timed * 1e3
        outside_total += max(ms - gemm_ms, 0.0)
        print(f"{phase:<40} {ms:>9.2f} {spent / total:>7.1%} {gemm_ms:>9.2f} {max(ms - gemm_ms, 0.0):>11.2f}")
    print(f"{'all':<40} {total / timed * 1e3:>9.2f} {1:>7.0%} {'':>9} {outside_total:>11.2f}")


def part_dropout(params, repeats: int = 200) -> None:
    import torch
    from torch.nn import functional as F

    from rnnpipe.core.dropout import dropout

    p = params.charrnn
    x = torch.randn(p.batch_size, p.seq_length, p.hidden_size)

    def ms(apply) -> float:
        for _ in range(10):
            apply()
        start = time.perf_counter()
        for _ in range(repeats):
            apply()
        return (time.perf_counter() - start) / repeats * 1e3

    # alternated, so that a change in the machine's load falls on both
    torch_ms, project_ms = [], []
    for _ in range(3):
        torch_ms.append(ms(lambda: F.dropout(x, p.dropout, training=True)))
        project_ms.append(ms(lambda: dropout(x, p.dropout, training=True)))
    best_torch, best_project = min(torch_ms), min(project_ms)
    print(f"\ndropout: one training mask of the default char-RNN's outputs, {tuple(x.shape)}, p = {p.dropout:g} "
          f"(best of 3 x {repeats})")
    print(f"{'torch F.dropout (Bernoulli per element)':<52} {best_torch:>8.2f} ms")
    print(f"{'rnnpipe.core.dropout (16-bit thresholds)':<52} {best_project:>8.2f} ms   "
          f"{best_torch / best_project:.1f}x as fast")


def gemm_bound_gflops(flops: float, p, step_gflops: float, large_gflops: float) -> float:
    """GFLOP/s of a training target whose GEMMs run at these rates and nothing else takes time: the recurrent
    step GEMMs (forward and the backward hidden-state gradient, 2 · 2 · G · H · H per layer) at the step shape's
    rate, the rest of rnnpipe.core.cost's FLOPs at the large SGEMM's."""
    from rnnpipe.core.params import GATES

    recurrent = 4 * GATES[p.cell] * p.hidden_size ** 2 * p.num_layers
    return flops / (recurrent / step_gflops + (flops - recurrent) / large_gflops)


def part_default(params, corpus, ids, sets: list[str]) -> None:
    from rnnpipe.charrnn.evaluate import held_out_metrics
    from rnnpipe.charrnn.train import train_charrnn

    train_ids, val_ids, test_ids = ids
    p = params.charrnn
    changed = f", with {' '.join(sets)}" if sets else ""
    print(f"\ndefault: config ({p.cell} {p.hidden_size}, {p.mode}, {p.epochs} epochs{changed}): held-out bits/char")
    model, result = train_charrnn(train_ids, val_ids, corpus.vocab, p, show_progress=False)
    metrics = held_out_metrics(model, p.mode, p.seq_length, train_ids, val_ids, test_ids, len(corpus.vocab),
                               params.charrnn_eval.baseline_order)
    print(f"{'model':<44} {'bits/char':>10}")
    label = "char-RNN (the config above)" if sets else "char-RNN (default config)"
    mixed = metrics["mixed_ngram_order"]
    with_part = f", {mixed}-gram part" if mixed else ""
    print(f"{label + with_part:<44} {metrics['bits_per_char']:>10.3f}   "
          f"training {result.seconds:.0f}s ({result.ngram_seconds:.0f}s of it the fits after training), best epoch "
          f"{result.best_epoch}")
    temperature = f"softmax temperature {metrics['rnn_temperature']:.3f} (fitted on validation)"
    if mixed:
        kind = ("gated by the n-gram's depth and entropy" if any(model.config.gate_weights)
                else "log-linear")
        print(f"{'  its RNN alone':<44} {metrics['rnn_bits_per_char']:>10.3f}   {temperature}; mixture weights: "
              f"RNN {metrics['mixed_rnn_weight']:.3f}, {mixed}-gram {metrics['mixed_ngram_weight']:.3f} ({kind})")
        print(f"{'  its ' + str(mixed) + '-gram alone':<44} {metrics['ngram_part_bits_per_char']:>10.3f}")
    else:
        print(f"{'  (the RNN)':<44} {'':>10}   {temperature}")
    print(f"{'Kneser-Ney ' + str(metrics['ngram_order']) + '-gram (the baseline)':<44} "
          f"{metrics['ngram_bits_per_char']:>10.3f}")
    print(f"{'unigram (add-one)':<44} {metrics['unigram_bits_per_char']:>10.3f}")
    rnn_alone = metrics["rnn_bits_per_char"] if mixed else metrics["bits_per_char"]
    goals = [("held-out bits/char, the RNN alone", rnn_alone, 2.10, "")]
    if mixed:
        goals.append((f"held-out bits/char with its {mixed}-gram part", metrics["bits_per_char"], 2.03, ""))
    goals.append(("training time", result.seconds, 400.0, " s"))
    for label, figure, goal, unit in goals:
        print(f"goal: {label} {figure:.4g}{unit} <= {goal:g}{unit}: "
              f"{'met' if figure <= goal else 'NOT met'}")


def main() -> None:
    parser = ArgumentParser(description="char-RNN throughput, numerics cost and held-out bits/char")
    parser.add_argument("--parts", nargs="+", choices=["course", "numerics", "contention", "rate", "dropout",
                                                       "default"],
                        default=["course", "numerics", "contention", "rate", "dropout", "default"])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to time the course loop")
    parser.add_argument("--chars", type=int, default=200_000, help="characters per throughput measurement")
    parser.add_argument("--gemm-seconds", type=float, default=2.0,
                        help="rate: how long each SGEMM rate is measured (its paired rounds: half of it)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="contention: how many times to measure quiet, then busy (the goals read the median)")
    parser.add_argument("--corpus", help="a UTF-8 text file to use instead of params.yaml's corpus")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params.yaml for this run, as `dvc exp run -S` (repeatable), e.g. "
                             "--set charrnn.hidden_size=448 --set charrnn.epochs=10")
    # The child's mode:
    parser.add_argument("--measure", choices=["pinned", "pinned-stock", *UNPINNED], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.chars, args.corpus, args.set)
        return
    check_seconds("--seconds", args.seconds, 600)
    check_integer("--chars", args.chars)
    check_seconds("--gemm-seconds", args.gemm_seconds, 600)
    check_integer("--rounds", args.rounds)
    from rnnpipe.core.errors import RnnpipeError

    try:
        params = start("pinned", args.corpus, args.set)
        p = params.charrnn
        from rnnpipe.charrnn.inputs import least_training_chars

        many, needed = p.mode == "many_to_many", least_training_chars(p)
        check_integer("--chars", args.chars, needed, allowed=f"an integer >= {needed}, one training batch of the "
                      f"char-RNN (charrnn.seq_length {p.seq_length}{f' + batch_size {p.batch_size}' if many else ''} "
                      f"+ {1 if many else 2})")
        if "rate" in args.parts and args.chars < rate_chars(p):
            refuse(f"--chars = {args.chars} is invalid for --parts rate: allowed is an integer >= {rate_chars(p)}, "
                   f"three training batches of charrnn.batch_size {p.batch_size} x seq_length {p.seq_length} (the "
                   "compiled loops and torch operations each timed after a warm-up batch)")
        from rnnpipe.core.determinism import configure_determinism

        configure_determinism(0)
        corpus, ids = load_corpus(params, args.corpus)
    except RnnpipeError as exc:
        refuse(str(exc))
    forward = (["--corpus", args.corpus] if args.corpus is not None else []) + [f"--set={pair}" for pair in args.set]
    print(f"corpus: {corpus.stats['kept_chars']:,} characters, vocabulary {len(corpus.vocab)}, "
          f"split {corpus.stats['train_chars']:,}/{corpus.stats['val_chars']:,}/{corpus.stats['test_chars']:,}")
    if "course" in args.parts:
        part_course(params, corpus, ids, args.seconds, args.chars)
    if "numerics" in args.parts:
        part_numerics(params, args.chars, forward)
    if "contention" in args.parts:
        part_contention(params, corpus, ids, args.chars, args.rounds)
    if "rate" in args.parts:
        part_rate(params, corpus, ids, args.chars, args.gemm_seconds)
    if "dropout" in args.parts:
        if params.charrnn.dropout == 0:
            print("\ndropout: the char-RNN's dropout is 0 (nothing to mask)")
        else:
            part_dropout(params)
    if "default" in args.parts:
        part_default(params, corpus, ids, args.set)


if __name__ == "__main__":
    main()

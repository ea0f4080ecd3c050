"""Tests for the numerics pin (rnnpipe.core.runtime): what each setting means, refusals, thread-count invariance."""
from __future__ import annotations

import random

import pytest
import torch

from rnnpipe.charrnn.train import tbptt_batches
from rnnpipe.core.errors import ParamsError
from rnnpipe.core.params import RuntimeParams
from rnnpipe.core.recurrent import detach_state
from rnnpipe.core.runtime import (
    GRAIN_SIZE,
    LoadAwareThreads,
    check_supported,
    cpu_flags,
    environment,
    invariant_mean,
    max_threads,
    pin,
)
from tests.builders import make_charrnn, make_forecaster


def test_avx2_pins_every_library_and_clears_what_would_override_it():
    env = environment(RuntimeParams(isa="avx2", threads=3))
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "AVX2,STRICT"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["NPY_ENABLE_CPU_FEATURES"] == "X86_V3"
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["MKL_ENABLE_INSTRUCTIONS"] is None and env["NPY_DISABLE_CPU_FEATURES"] is None


def test_native_leaves_the_instruction_set_settings_to_the_shell():
    env = environment(RuntimeParams(isa="native", threads=1))
    assert not {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "NPY_ENABLE_CPU_FEATURES"} & set(env)
    assert env["OMP_NUM_THREADS"] == "1"


def test_auto_threads_are_the_cores_this_process_may_use():
    assert max_threads("auto") >= 1 and max_threads(5) == 5


@pytest.mark.parametrize("machine, flags, named", [
    ("aarch64", set(), "a aarch64 CPU"),
    ("x86_64", {"sse4_2", "avx"}, "it lacks avx2, fma, bmi2"),
])
def test_a_level_the_cpu_cannot_run_is_one_line_naming_the_way_out(machine, flags, named):
    with pytest.raises(ParamsError) as info:
        check_supported("avx2", machine, flags)
    message = str(info.value)
    assert "runtime.isa = 'avx2'" in message and named in message and "native" in message and "\n" not in message
    check_supported("native", machine, flags)  # always possible
    check_supported("avx2", "x86_64", {"avx2", "fma", "bmi2"})


def test_this_machine_reports_its_flags():
    assert "avx2" in cpu_flags()  # the project's CI and development machines are x86-64 with AVX2


def test_pinning_again_with_other_settings_after_torch_loaded_is_refused():
    with pytest.raises(RuntimeError, match="before torch or numpy"):
        pin(RuntimeParams(isa="native", threads=1))


def test_the_pin_took_effect_in_this_test_process():
    assert torch.backends.cpu.get_cpu_capability() == "AVX2" and not torch.backends.mkldnn.enabled


def run_with_threads(threads: int, step):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return step()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n", [100, GRAIN_SIZE + 1, 1_000_003])
def test_invariant_mean_has_the_same_bits_for_every_thread_count(n):
    values = torch.randn(n, generator=torch.Generator().manual_seed(n))
    means = {run_with_threads(t, lambda: invariant_mean(values).item()).hex() for t in (1, 2, 3, 5)}
    assert len(means) == 1
    assert invariant_mean(values).item() == pytest.approx(values.double().mean().item(), rel=1e-5)


def test_a_plain_torch_sum_over_many_values_does_depend_on_the_thread_count():
    """Why invariant_mean exists: ATen splits long full reductions by thread."""
    values = torch.randn(1_000_003, generator=torch.Generator().manual_seed(0))
    assert len({run_with_threads(t, lambda: values.sum().item()).hex() for t in (1, 2, 3, 5)}) > 1


def charrnn_steps() -> bytes:
    """A few training steps of a char-RNN of the default's size: big enough that MKL splits its GEMMs by thread."""
    torch.manual_seed(0)
    model = make_charrnn(60, hidden_size=384, cell="lstm", input="embedding", embedding_dim=48, dropout=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    ids = torch.randint(60, (64 * 50 * 4 + 1,), generator=torch.Generator().manual_seed(1))
    state = None
    for inputs, targets in tbptt_batches(ids, 64, 50):
        logits, state = model(inputs, state)
        state = detach_state(state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 60), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return b"".join(p.detach().numpy().tobytes() for p in model.parameters())


def forecaster_steps() -> bytes:
    torch.manual_seed(0)
    model = make_forecaster(cell="gru", hidden_size=64, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    windows = torch.randn(256, 200, generator=torch.Generator().manual_seed(2))
    for batch in windows.split(64):
        loss = invariant_mean((model.forward_steps(batch)[:, :-1] - batch[:, 1:]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return b"".join(p.detach().numpy().tobytes() for p in model.parameters())


@pytest.mark.parametrize("steps", [charrnn_steps, forecaster_steps])
def test_training_gives_the_same_weights_for_every_thread_count(steps):
    results = {t: run_with_threads(t, steps) for t in (1, 2, 3)}
    assert results[1] == results[2] == results[3]


# --- load-aware threads -------------------------------------------------------------------------------------------

class Machine:
    """Seconds per target by thread count, quiet or with one busy process beside the training, with noise."""

    QUIET = {1: 1.0, 2: 0.6}
    BUSY = {1: 1.0, 2: 2.0}

    def __init__(self, seed: int = 0):
        self.busy = False
        self.random = random.Random(seed)

    def time(self, threads: int) -> float:
        base = (self.BUSY if self.busy else self.QUIET)[threads]
        return base * self.random.uniform(0.95, 1.05)


def drive(policy: LoadAwareThreads, machine: Machine, batches: int) -> list[int]:
    used = []
    for _ in range(batches):
        used.append(policy.current)
        policy.after_batch(machine.time(policy.current) * 100, 100)
    return used


def make_policy() -> LoadAwareThreads:
    return LoadAwareThreads(2, apply=lambda threads: None)


def test_a_quiet_machine_tries_one_thread_fewer_once_and_keeps_every_thread():
    policy = make_policy()
    used = drive(policy, Machine(), 2000)
    assert policy.switches == [(4, 1), (8, 2)]  # one trial at the start: 1 warm-up + 3 measured batches
    assert used.count(1) == 4 and used[8:] == [2] * 1992


def test_a_machine_busy_from_the_start_trains_on_fewer_threads():
    policy, machine = make_policy(), Machine(4)
    machine.busy = True
    used = drive(policy, machine, 500)
    assert used.count(1) > 0.85 * len(used)


def test_a_busy_core_moves_training_to_fewer_threads_and_back_when_it_is_free():
    policy, machine = make_policy(), Machine(1)
    drive(policy, machine, 50)
    machine.busy = True
    used = drive(policy, machine, 400)
    assert used[:3] == [2, 2, 2] and used.count(1) > 0.85 * len(used)
    machine.busy = False
    used = drive(policy, machine, 400)
    assert used[-100:] == [2] * 100


def test_trials_of_more_threads_under_load_become_rarer():
    policy, machine = make_policy(), Machine(2)
    machine.busy = True
    drive(policy, machine, 3000)
    ups = [batch for batch, threads in policy.switches if threads == 2]
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert len(ups) >= 3 and gaps == sorted(gaps)


def test_a_single_slow_batch_changes_nothing():
    policy, machine = make_policy(), Machine(3)
    drive(policy, machine, 20)
    switches = list(policy.switches)
    policy.after_batch(5.0 * 100, 100)  # a hiccup: one batch five times slower
    drive(policy, machine, 20)
    assert policy.switches == switches

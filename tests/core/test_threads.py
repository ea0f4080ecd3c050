"""Tests for the thread policy (rnnpipe.core.threads): the cores, and load-aware threads on a simulated machine."""
from __future__ import annotations

import random

from rnnpipe.core.params import RuntimeParams
from rnnpipe.core.threads import LoadAwareThreads, max_threads, thread_policy


def test_auto_threads_are_the_cores_this_process_may_use():
    assert max_threads("auto") >= 1 and max_threads(5) == 5


def test_auto_threads_follow_the_load_and_a_fixed_count_stays_fixed():
    policy = thread_policy(RuntimeParams(isa="avx2", threads="auto"))
    assert isinstance(policy, LoadAwareThreads) and policy.most == max_threads("auto")
    assert thread_policy(RuntimeParams(isa="avx2", threads=2)) is None


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

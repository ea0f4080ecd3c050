"""How many threads torch trains with: a fixed count, or one that follows the machine's load (runtime.threads)."""
from __future__ import annotations

import os
from typing import Callable, Literal, Optional

from rnnpipe.core.params import RuntimeParams


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def max_threads(threads: int | Literal["auto"]) -> int:
    return available_cores() if threads == "auto" else threads


def thread_policy(runtime: RuntimeParams) -> Optional["LoadAwareThreads"]:
    """threads: auto adapts to the machine's load while training; a fixed count stays fixed."""
    return LoadAwareThreads(max_threads("auto")) if runtime.threads == "auto" else None


class LoadAwareThreads:
    """Chooses torch's thread count batch by batch, from the measured time per training target.

    Threads that wait on each other at every time step stall when another program takes one of their cores: with
    one busy process beside it, two threads train at a third of their quiet speed, one thread at more than half.
    So it tries one thread fewer once at the start (the machine may be busy already), and again whenever batches
    run `slowdown` times slower than the fastest seen at this count, and keeps it when faster; below the most, it
    tries one more now and then, less often each time that loses. On a quiet machine that is one trial of a few
    batches per training. Changing the count mid-training is allowed only because the results do not depend on it
    (rnnpipe.core.determinism); nothing of it reaches an output.
    """

    def __init__(self, most: int, slowdown: float = 1.4, patience: int = 3, trial: int = 3, recheck: int = 40,
                 apply: Optional[Callable[[int], None]] = None):
        self.most = self.current = most
        self.slowdown, self.patience, self.trial_length = slowdown, patience, trial
        self.first_recheck = self.recheck = recheck
        self.apply = apply
        self.best: dict[int, float] = {}             # the fastest seconds per target seen at each count
        self.recent: dict[int, list[float]] = {}     # the last few steady figures at each count
        self.slow_batches = 0
        self.since_change = 0
        self.batches = 0
        self.explored = most == 1
        self.trial_from: Optional[int] = None
        self.trial_times: list[float] = []
        self.switches: list[tuple[int, int]] = []  # (batch, new count): for the log

    def after_batch(self, seconds: float, targets: int) -> None:
        self.batches += 1
        self.since_change += 1
        if targets <= 0 or self.since_change == 1:
            return  # the first batch after a change pays for starting the new thread team: not a fair sample
        per_target = seconds / targets
        if self.trial_from is not None:
            self.trial_times.append(per_target)
            if len(self.trial_times) >= self.trial_length:
                self._end_trial()
            return
        n = self.current
        self.recent[n] = (self.recent.get(n, []) + [per_target])[-5:]
        self.best[n] = min(self.best.get(n, per_target), per_target)
        self.slow_batches = self.slow_batches + 1 if per_target > self.slowdown * self.best[n] else 0
        if n > 1 and (self.slow_batches >= self.patience or not self.explored and self.since_change > self.patience):
            self.explored = True
            self._start_trial(n - 1)
        elif n < self.most and self.since_change > self.recheck:
            self._start_trial(n + 1)

    def _set(self, threads: int) -> None:
        if threads != self.current:
            if self.apply is not None:
                self.apply(threads)
            else:
                import torch

                torch.set_num_threads(threads)
            self.current = threads
            self.switches.append((self.batches, threads))
        self.since_change = 0

    def _start_trial(self, threads: int) -> None:
        self.trial_from, self.trial_times, self.slow_batches = self.current, [], 0
        self._set(threads)

    def _end_trial(self) -> None:
        tried, start = self.current, self.trial_from
        measured = _median(self.trial_times)  # medians: one noisy batch decides nothing
        self.trial_from, self.trial_times = None, []
        self.best[tried] = min(self.best.get(tried, measured), measured)
        if measured < 0.9 * _median(self.recent.get(start, [float("inf")])):
            self.recent[tried] = [measured]
            self.recheck = self.first_recheck
            return  # clearly faster: keep it
        self._set(start)
        if tried > start:
            self.recheck = min(self.recheck * 2, 160)  # more threads lost again: look less often


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]

"""Tests for thread-count invariance (rnnpipe.core.determinism): the same bits from every thread count."""
from __future__ import annotations

import pytest
import torch

from rnnpipe.charrnn.train import tbptt_batches
from rnnpipe.core.determinism import GRAIN_SIZE, invariant_mean
from rnnpipe.core.recurrent import detach_state
from tests.builders import make_charrnn, make_forecaster


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

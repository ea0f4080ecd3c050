"""FastLSTM: the same function and gradients as nn.LSTM, bits independent of the thread count, nn.LSTM's own path
outside training."""
import hashlib
import os
import shutil

import pytest
import torch
from torch import nn

from rnnpipe.core import lstm, lstm_step
from rnnpipe.core.dropout import keep_mask
from rnnpipe.core.lstm import FastLSTM
from rnnpipe.core.recurrent import make_rnn


def pair(num_layers: int, batch_first: bool, dropout: float = 0.0) -> tuple[nn.LSTM, FastLSTM]:
    torch.manual_seed(0)
    ref = nn.LSTM(6, 16, num_layers=num_layers, batch_first=batch_first, dropout=dropout)
    fast = FastLSTM(6, 16, num_layers=num_layers, batch_first=batch_first, dropout=dropout)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def run(model: nn.LSTM, x: torch.Tensor, state, use_final_state: bool = True) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state) if state is not None else None
    out, (h, c) = model(x, state)
    loss = (out * torch.linspace(-1, 1, out.shape[-1])).square().sum()
    if use_final_state:
        loss = loss + (1.3 * h).sum() - (0.7 * c).square().sum()
    loss.backward()
    grads = [x.grad] + ([s.grad for s in state] if state is not None else []) + [p.grad for p in model.parameters()]
    return [out, h, c] + grads


@pytest.mark.parametrize("num_layers, batch_first, with_state, use_final_state", [
    (1, True, True, True), (1, True, False, False), (2, False, True, True), (3, True, True, False)])
def test_forward_and_gradients_match_nn_lstm(num_layers, batch_first, with_state, use_final_state):
    ref, fast = pair(num_layers, batch_first)
    torch.manual_seed(1)
    x = torch.randn((5, 9, 6) if batch_first else (9, 5, 6))
    state = (torch.randn(num_layers, 5, 16), torch.randn(num_layers, 5, 16)) if with_state else None
    expected, actual = run(ref, x, state, use_final_state), run(fast, x, state, use_final_state)
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_the_training_path_is_taken_and_is_not_nn_lstm_bit_for_bit():
    """Guards the test above: it must compare two implementations, not nn.LSTM with itself."""
    ref, fast = pair(1, True)
    x = torch.randn(8, 40, 6)
    a, b = run(ref, x, None), run(fast, x, None)
    assert fast.training and any(not torch.equal(e, f) for e, f in zip(a, b))


def test_outside_training_it_is_nn_lstm():
    ref, fast = pair(2, True)
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        assert all(torch.equal(e, a) for e, a in zip(torch.utils._pytree.tree_leaves(ref(x)),
                                                     torch.utils._pytree.tree_leaves(fast(x))))
    ref.eval(), fast.eval()
    assert all(torch.equal(e, a) for e, a in zip(torch.utils._pytree.tree_leaves(ref(x)),
                                                 torch.utils._pytree.tree_leaves(fast(x))))


def test_bits_do_not_depend_on_the_thread_count():
    def digest(threads: int) -> str:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            torch.manual_seed(0)
            model = FastLSTM(48, 384, batch_first=True)  # GEMMs big enough for MKL to split them across threads
            tensors = run(model, torch.randn(64, 30, 48), None)
        finally:
            torch.set_num_threads(before)
        return hashlib.md5(b"".join(t.detach().numpy().tobytes() for t in tensors)).hexdigest()

    assert digest(1) == digest(2) == digest(3)


def test_its_training_graph_goes_backward_once():
    # The backward pass writes the gate gradients over the saved gates: a second pass through the same graph must
    # stop with torch's in-place error, never compute from overwritten activations.
    _, fast = pair(num_layers=1, batch_first=True)
    fast.train()
    out, _ = fast(torch.randn(3, 5, 6))
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_the_models_build_it_with_nn_lstm_parameters():
    lstm = make_rnn("lstm", 4, 8, num_layers=2)
    assert isinstance(lstm, FastLSTM) and isinstance(lstm, nn.LSTM)
    assert list(lstm.state_dict()) == list(nn.LSTM(4, 8, num_layers=2).state_dict())


def test_dropout_between_layers_only_in_training():
    _, fast = pair(2, True, dropout=0.5)
    x = torch.randn(4, 5, 6)
    torch.manual_seed(3)
    first = fast(x)[0]
    torch.manual_seed(4)
    assert not torch.equal(first, fast(x)[0])  # another dropout mask
    fast.eval()
    assert torch.equal(fast(x)[0], fast(x)[0])


@pytest.mark.parametrize("fill", [True, False])
def test_under_deterministic_mode_it_matches_nn_lstm_and_leaves_the_mode_as_it_was(fill):
    """The pipeline trains in deterministic mode, whose NaN fill of new tensors the layer skips for its own buffers
    (it writes every element before reading one); the setting must be back as it was afterwards."""
    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = fill
    try:
        ref, fast = pair(2, True)
        torch.manual_seed(1)
        x = torch.randn(5, 9, 6)
        state = (torch.randn(2, 5, 16), torch.randn(2, 5, 16))
        expected, actual = run(ref, x, state), run(fast, x, state)
        assert torch.utils.deterministic.fill_uninitialized_memory is fill
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_weight_dropout_is_nn_lstm_on_masked_recurrent_weights():
    """Forward and gradients equal nn.LSTM whose W_hh of every layer is multiplied by the keep mask / (1 - p), drawn
    in layer order from the same seed; the parameter's gradient is the masked weight's gradient times that factor."""
    p = 0.4
    ref, fast = pair(2, True)
    fast.weight_dropout = p
    torch.manual_seed(7)
    factors = [keep_mask((64, 16), p).float() / (1 - p) for _ in range(2)]
    with torch.no_grad():
        for layer, factor in enumerate(factors):
            getattr(ref, f"weight_hh_l{layer}").mul_(factor)
    x, state = torch.randn(5, 9, 6), (torch.randn(2, 5, 16), torch.randn(2, 5, 16))
    expected = run(ref, x, state)
    torch.manual_seed(7)
    actual = run(fast, x, state)
    for layer, factor in enumerate(factors):  # the W_hh gradients, after x, h0, c0 and w_ih, w_hh, b_ih, b_hh
        index = 3 + 3 + 4 * layer + 1
        expected[index] = expected[index] * factor
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)
    assert not torch.equal(actual[0], run(pair(2, True)[1], x, state)[0])  # the masks did something


def test_weight_dropout_only_in_training_and_only_on_the_fast_path():
    ref, fast = pair(1, True)
    fast.weight_dropout = 0.5
    x = torch.randn(3, 7, 6)
    fast.eval()
    assert torch.equal(fast(x)[0], ref.eval()(x)[0])
    fast.train()
    with pytest.raises(ValueError, match=r"weight_dropout = 0.5: trains only on the CPU in float32 .*float64"):
        fast.double()(x.double())


def test_weight_dropout_is_refused_outside_lstm_and_outside_zero_to_one():
    assert make_rnn("lstm", 4, 8, weight_dropout=0.25).weight_dropout == 0.25
    with pytest.raises(ValueError, match=r"weight_dropout = 0.25 with cell 'gru': allowed is 0"):
        make_rnn("gru", 4, 8, weight_dropout=0.25)
    with pytest.raises(ValueError, match=r"weight_dropout = 1.0: allowed is a number in \[0, 1\)"):
        FastLSTM(4, 8, weight_dropout=1.0)


def compiled_step_built(forward: bool = False) -> bool:
    allowed = (lstm_step.FORWARD_CAPABILITY,) if forward else lstm_step.FUSED_CAPABILITIES
    if torch.backends.cpu.get_cpu_capability() not in allowed:
        pytest.skip(f"ATen runs its {torch.backends.cpu.get_cpu_capability()} kernels here: the torch version runs")
    if shutil.which(os.environ.get("CC") or "cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc or gcc): setup could not build rnnpipe.core.lstm_step's library")
    assert lstm_step.load() is not None, "setup builds it: bash scripts/setup.sh"
    assert not forward or lstm_step.load().forward is not None, "torch's library lacks one of TORCH_FUNCTIONS"
    return True


@pytest.mark.parametrize("num_layers, batch_first, with_state, use_final_state, sizes", [
    (1, True, False, False, (32, 50, 64, 512)),   # the default char-RNN's shapes
    (1, True, True, True, (5, 9, 6, 16)),
    (2, False, True, True, (3, 7, 5, 13)),        # odd sizes: no whole vector anywhere
    (3, True, False, True, (4, 6, 6, 24))])
def test_the_compiled_steps_give_the_torch_versions_bits(monkeypatch, num_layers, batch_first, with_state,
                                                         use_final_state, sizes):
    assert compiled_step_built(forward=True)
    batch, steps, inputs, hidden = sizes
    torch.manual_seed(0)
    model = FastLSTM(inputs, hidden, num_layers=num_layers, batch_first=batch_first)
    x = torch.randn((batch, steps, inputs) if batch_first else (steps, batch, inputs))
    state = (torch.randn(num_layers, batch, hidden), torch.randn(num_layers, batch, hidden)) if with_state else None
    with monkeypatch.context() as only_compiled:  # the first run must take the compiled loop
        for name in ("_torch_forward_steps", "_torch_backward_steps"):
            only_compiled.setattr(lstm, name, lambda *args: pytest.fail("a torch version ran"))
        compiled = run(model, x, state, use_final_state)
    model.zero_grad()
    monkeypatch.setattr(lstm, "compiled_step", False)
    torch_version = run(model, x, state, use_final_state)
    assert len(compiled) == len(torch_version) > 5
    for a, b in zip(compiled, torch_version):
        assert torch.equal(a, b)


def test_a_graph_through_the_compiled_backward_step_still_goes_backward_once():
    """The loop writes the saved gates outside torch: a second backward must still stop."""
    assert compiled_step_built() and lstm.compiled_step
    model = FastLSTM(6, 16, batch_first=True)
    out, _ = model(torch.randn(3, 5, 6))
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.parametrize("rows, gates, inputs, hidden", [(1600, 2048, 64, 512), (37, 52, 5, 13)])
def test_one_gemm_over_x_and_h_gives_each_weight_gradient_the_bits_of_its_own_gemm(rows, gates, inputs, hidden):
    """FastLSTM's backward computes d_W_ih and d_W_hh as one GEMM over [x | h_prev]: a column's bits must not
    depend on its neighbours (MKL's strict mode)."""
    torch.manual_seed(0)
    flat, x, h = torch.randn(rows, gates), torch.randn(rows, inputs), torch.randn(rows, hidden)
    both = torch.mm(flat.t(), torch.cat([x, h], dim=1))
    assert torch.equal(both[:, :inputs], torch.mm(flat.t(), x))
    assert torch.equal(both[:, inputs:], torch.mm(flat.t(), h))


def test_a_torch_without_one_of_the_functions_the_loops_call_runs_the_torch_versions(monkeypatch):
    """A torch build whose library lacks sgemm_, SLEEF's exp or MKL's vmsTanh: no compiled loop, the same results."""
    assert compiled_step_built()
    lstm_step.load.cache_clear()
    monkeypatch.setattr(lstm_step, "TORCH_FUNCTIONS", ("sgemm_", "no_such_function", "vmsTanh",
                                                       "MKL_Set_Num_Threads_Local"))
    try:
        assert lstm_step.load() is None
        torch.manual_seed(0)
        model = FastLSTM(6, 16, batch_first=True)
        x = torch.randn(3, 5, 6)
        fallback = run(model, x, None)
    finally:
        monkeypatch.undo()
        lstm_step.load.cache_clear()
    model.zero_grad()
    assert lstm_step.load() is not None
    for a, b in zip(fallback, run(model, x, None)):
        assert torch.equal(a, b)

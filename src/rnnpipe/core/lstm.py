"""An LSTM layer whose training pass is written out by hand: the speed oneDNN gave, without oneDNN.

The pinned numerics turn oneDNN off (its LSTM picks its blocking from the thread count and the L2 size, so its bits
differ between machines), and ATen's own LSTM then runs one autograd node per operation and time step: about 20
small operations per step forward and backward, and the weight gradient of the recurrent matrix as one small GEMM
per step. Here a training pass over a whole sequence is one autograd node:

- forward: the input projection of all steps is one GEMM; per step, one GEMM (h @ W_hh) into the gate buffer and
  the gate functions in place (7 elementwise operations); the activated gates, cell states and tanh(c) are kept for
  the backward pass;
- backward: per step, the gate gradients (15 elementwise operations) and one GEMM (dh = dgates @ W_hh); after the
  loop, the input, weight and bias gradients of all steps are three large GEMMs (both weight matrices in one),
  which MKL runs near its peak. Where setup built rnnpipe.core.lstm_step, each loop over the steps is one call of
  its compiled version, with the same bits.
  Each step's gate gradients overwrite its saved gates once they are read, so a batch's activations take 13 MB
  less (LSTM 512, 32 × 50 characters) and stay in the L3 cache; the price: a graph through FastLSTM's training
  path goes backward once (a second backward, retain_graph=True, stops with torch's in-place error).

Every operation is elementwise or an MKL GEMM, so the bits do not depend on the thread count (MKL's strict mode,
see rnnpipe.core.determinism). FastLSTM is an nn.LSTM (same parameters, same state dict, same checkpoints): it takes
this path only when training on the CPU in float32 with gradients on; evaluation, generation and export run
nn.LSTM's own forward.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from rnnpipe.core import lstm_step
from rnnpipe.core.dropout import dropout

# False: both passes run their torch versions even where rnnpipe.core.lstm_step is built (the same bits).
compiled_step = True


def _gate_views(gates: torch.Tensor, hidden: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """nn.LSTM's gate order in its weights: input, forget, cell (g), output."""
    return (gates[..., :hidden], gates[..., hidden:2 * hidden], gates[..., 2 * hidden:3 * hidden],
            gates[..., 3 * hidden:])


def _unfilled(like: torch.Tensor, *shape: int) -> torch.Tensor:
    """A buffer (like `like`) every element of which is written before it is read: deterministic mode would first
    fill it with NaN, megabytes of writes per batch for nothing."""
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        return like.new_empty(shape)
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill


def _torch_forward_steps(gates: torch.Tensor, hs: torch.Tensor, cs: torch.Tensor, tanh_cs: torch.Tensor,
                         w_hh: torch.Tensor) -> None:
    """The forward loop in torch operations: every step's GEMM into `gates`, then its gate functions in place, and
    hs[t + 1], cs[t + 1], tanh_cs[t] (hs[0] and cs[0] hold the initial state)."""
    hidden = w_hh.shape[1]
    w_hh_t = w_hh.t()
    # Every step's views made for all steps at once (unbind): Python's indexing in the loop cost as much as the
    # small operations themselves.
    per_step = zip(gates.unbind(0), gates[..., :2 * hidden].unbind(0),
                   *(view.unbind(0) for view in _gate_views(gates, hidden)),
                   hs.unbind(0), hs[1:].unbind(0), cs.unbind(0), cs[1:].unbind(0), tanh_cs.unbind(0))
    for g, sigmoids_if, i, f, cell, o, h_prev, h, c_prev, c, tanh_c in per_step:
        g.addmm_(h_prev, w_hh_t)
        sigmoids_if.sigmoid_()
        cell.tanh_()
        o.sigmoid_()
        torch.mul(f, c_prev, out=c)
        c.addcmul_(i, cell)
        torch.tanh(c, out=tanh_c)
        torch.mul(o, tanh_c, out=h)


def _compiled_forward_steps(loop: Any, gates: torch.Tensor, hs: torch.Tensor, cs: torch.Tensor,
                            tanh_cs: torch.Tensor, w_hh: torch.Tensor) -> None:
    """_torch_forward_steps as one call of rnnpipe.core.lstm_step's forward loop: each step's GEMM the very call
    ATen makes, its elementwise part one pass; the same bits. All five tensors are contiguous."""
    steps, batch, hidden = tanh_cs.shape
    loop(steps, batch, hidden, gates.data_ptr(), hs.data_ptr(), cs.data_ptr(), tanh_cs.data_ptr(), w_hh.data_ptr(),
         torch.get_num_threads())


def _torch_backward_steps(d_out: Optional[torch.Tensor], gates: torch.Tensor, tanh_cs: torch.Tensor,
                          cs: torch.Tensor, w_hh: torch.Tensor, dh: torch.Tensor, dc: torch.Tensor,
                          dc_next: torch.Tensor) -> torch.Tensor:
    """The backward loop in torch operations: every step's gate gradients into `gates`, dh and dc of step 0 into
    `dh` and the returned tensor (`dc` or `dc_next`)."""
    steps, batch, hidden = tanh_cs.shape
    ones = dh.new_ones(batch, hidden)
    scratch, scratch_g, scratch_if = (dh.new_empty(batch, hidden), dh.new_empty(batch, hidden),
                                      dh.new_empty(batch, 2 * hidden))
    d_outs = d_out.unbind(0) if d_out is not None else (None,) * steps
    per_step = zip(*(view.unbind(0) for view in (
        *_gate_views(gates, hidden), gates[..., :2 * hidden], gates, tanh_cs, cs[:steps])))
    for t, (i, f, cell, o, s_if, g_t, tanh_c, c_prev) in reversed(list(enumerate(per_step))):
        if d_outs[t] is not None:
            dh.add_(d_outs[t])
        # dc += dh * o * (1 - tanh(c)^2)
        torch.addcmul(ones, tanh_c, tanh_c, value=-1, out=scratch).mul_(o)
        dc.addcmul_(scratch, dh)
        # do = dh * tanh(c) * o * (1 - o), into o's place
        torch.addcmul(o, o, o, value=-1, out=scratch)
        torch.mul(dh, tanh_c, out=o).mul_(scratch)
        # the factors that still need i, f and g, before their places are overwritten
        torch.addcmul(s_if, s_if, s_if, value=-1, out=scratch_if)
        torch.addcmul(ones, cell, cell, value=-1, out=scratch_g).mul_(i)
        torch.mul(dc, f, out=dc_next)
        # di = dc * g * i (1 - i), df = dc * c_prev * f (1 - f): both sigmoid gates in one product
        torch.mul(dc, cell, out=i)
        torch.mul(dc, c_prev, out=f)
        s_if.mul_(scratch_if)
        # dg = dc * i * (1 - g^2)
        torch.mul(dc, scratch_g, out=cell)
        # to step t - 1
        dc, dc_next = dc_next, dc
        torch.mm(g_t, w_hh, out=dh)
    return dc


def _compiled_backward_steps(loop: Any, d_out: Optional[torch.Tensor], gates: torch.Tensor,
                             tanh_cs: torch.Tensor, cs: torch.Tensor, w_hh: torch.Tensor, dh: torch.Tensor,
                             dc: torch.Tensor, dc_next: torch.Tensor) -> torch.Tensor:
    """_torch_backward_steps as one call of rnnpipe.core.lstm_step's backward loop: the same bits."""
    steps, batch, hidden = tanh_cs.shape
    if d_out is not None and d_out.stride(2) != 1:
        d_out = d_out.contiguous()
    in_next = loop(steps, batch, hidden, gates.data_ptr(), tanh_cs.data_ptr(), cs.data_ptr(), w_hh.data_ptr(),
                   dh.data_ptr(), d_out.data_ptr() if d_out is not None else None,
                   d_out.stride(0) if d_out is not None else 0, d_out.stride(1) if d_out is not None else 0,
                   dc.data_ptr(), dc_next.data_ptr(), torch.get_num_threads())
    torch.autograd.graph.increment_version(gates)  # written outside torch: a second backward must still refuse
    return dc_next if in_next else dc


class _LSTMLayer(torch.autograd.Function):
    """One layer over a time-major sequence: x [T, B, I], h0, c0 [B, H] → (h of every step [T, B, H], h_T, c_T)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_ih: torch.Tensor,
                w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        # Gate pre-activations of every step, input part and both biases first: one GEMM.
        gates = torch.addmm(b_ih + b_hh, x.reshape(steps * batch, -1), w_ih.t()).view(steps, batch, 4 * hidden)
        hs = _unfilled(x, steps + 1, batch, hidden)   # hs[0] = h0, hs[t + 1] = h after step t
        cs = _unfilled(x, steps + 1, batch, hidden)   # the same for c
        tanh_cs = _unfilled(x, steps, batch, hidden)
        hs[0], cs[0] = h0, c0
        library = lstm_step.load() if compiled_step and w_hh.is_contiguous() else None
        if library is not None and library.forward is not None:
            _compiled_forward_steps(library.forward, gates, hs, cs, tanh_cs, w_hh)
        else:
            _torch_forward_steps(gates, hs, cs, tanh_cs, w_hh)
        ctx.save_for_backward(x, w_ih, w_hh, gates, hs, cs, tanh_cs)
        return hs[1:], hs[steps].clone(), cs[steps].clone()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor, d_hn: Optional[torch.Tensor], d_cn: Optional[torch.Tensor]
                 ) -> tuple[Optional[torch.Tensor], ...]:
        x, w_ih, w_hh, gates, hs, cs, tanh_cs = ctx.saved_tensors
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        d_gates = gates  # each step's gate gradients overwrite its gates once they are read: 13 MB less to hold
        dh = d_hn.clone(memory_format=torch.contiguous_format) if d_hn is not None else x.new_zeros(batch, hidden)
        dc = d_cn.clone(memory_format=torch.contiguous_format) if d_cn is not None else x.new_zeros(batch, hidden)
        dc_next = x.new_empty(batch, hidden)
        contiguous = all(tensor.is_contiguous() for tensor in (gates, tanh_cs, cs, w_hh))  # what the loop reads
        library = lstm_step.load() if compiled_step and contiguous else None
        if library is not None:
            dc = _compiled_backward_steps(library.backward, d_out, gates, tanh_cs, cs, w_hh, dh, dc, dc_next)
        else:
            dc = _torch_backward_steps(d_out, gates, tanh_cs, cs, w_hh, dh, dc, dc_next)
        flat = d_gates.view(steps * batch, 4 * hidden)
        d_x = torch.mm(flat, w_ih).view_as(x) if ctx.needs_input_grad[0] else None
        # Both weight gradients as one GEMM over [x | h_prev]: MKL runs the 64 + 512 columns at its large rate, the
        # 64 alone well below it, and each column's bits are the same as in a GEMM of its own.
        inputs = x.shape[2]
        d_w = torch.mm(flat.t(), torch.cat([x.reshape(steps * batch, inputs),
                                            hs[:steps].reshape(steps * batch, hidden)], dim=1))
        d_w_ih, d_w_hh = d_w[:, :inputs].contiguous(), d_w[:, inputs:].contiguous()
        d_b = torch.mm(flat.new_ones(1, steps * batch), flat).view(4 * hidden)  # a GEMM: thread-invariant bits
        return d_x, dh, dc, d_w_ih, d_w_hh, d_b, d_b.clone()


class FastLSTM(nn.LSTM):
    """nn.LSTM (batch_first or not) that trains through _LSTMLayer on the CPU; anything else is nn.LSTM's.

    weight_dropout: DropConnect on the recurrent weights while training (Merity et al.'s weight-dropped LSTM): each
    forward pass multiplies every layer's W_hh by a fresh keep mask scaled by 1/(1 - p), the same mask at every step
    and for every sequence of the batch; evaluation uses W_hh as it is. Not a parameter: checkpoints are unchanged.
    """

    def __init__(self, *args: Any, weight_dropout: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"weight_dropout = {weight_dropout!r}: allowed is a number in [0, 1)")
        self.weight_dropout = weight_dropout

    def _fast(self, x: torch.Tensor) -> bool:
        return (self.training and torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
                and x.dim() == 3 and not self.bidirectional and self.proj_size == 0 and self.bias)

    def forward(self, input: torch.Tensor, hx: Optional[tuple[torch.Tensor, torch.Tensor]] = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if not self._fast(input):
            if self.training and torch.is_grad_enabled() and self.weight_dropout > 0:
                raise ValueError(f"weight_dropout = {self.weight_dropout}: trains only on the CPU in float32 with "
                                 f"3-D input (got {input.device.type}, {input.dtype}, {input.dim()}-D)")
            return super().forward(input, hx)
        x = input.transpose(0, 1) if self.batch_first else input
        x = x.contiguous()
        batch = x.shape[1]
        if hx is None:
            zeros = x.new_zeros(self.num_layers, batch, self.hidden_size)
            hx = (zeros, zeros)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                x = dropout(x, self.dropout, training=True)
            w_hh = dropout(getattr(self, f"weight_hh_l{layer}"), self.weight_dropout, training=True)
            x, h, c = _LSTMLayer.apply(x, hx[0][layer], hx[1][layer], getattr(self, f"weight_ih_l{layer}"),
                                       w_hh, getattr(self, f"bias_ih_l{layer}"),
                                       getattr(self, f"bias_hh_l{layer}"))
            h_n.append(h)
            c_n.append(c)
        out = x.transpose(0, 1) if self.batch_first else x
        return out, (torch.stack(h_n), torch.stack(c_n))

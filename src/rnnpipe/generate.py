"""Text sampling (greedy, temperature, top-k) and recursive multi-step forecasts."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from rnnpipe.errors import GenerationError


def check_prompt(prompt: str, vocab: Sequence[str]) -> None:
    missing = sorted(set(prompt) - set(vocab))
    if missing:
        raise GenerationError(f"generate.prompt = {prompt!r} has characters outside the vocabulary: "
                              f"{''.join(missing)!r}; allowed are {''.join(vocab)!r}")


@torch.no_grad()
def generate_text(model: nn.Module, vocab: Sequence[str], prompt: str, n_chars: int, mode: str, seq_length: int,
                  method: str = "greedy", temperature: float = 1.0, top_k: Optional[int] = None,
                  seed: int = 0) -> str:
    """Continue `prompt` by n_chars characters.

    method: greedy (argmax, as the course), temperature (sample from softmax(logits / T)) or top_k (sample from
    the k most likely, after temperature). many_to_many models carry their state along; many_to_one models see
    the previous seq_length characters, as they were trained.
    """
    check_prompt(prompt, vocab)
    if method not in ("greedy", "temperature", "top_k"):
        raise GenerationError(f"method = {method!r}: allowed is greedy, temperature or top_k")
    model.eval()
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index[ch] for ch in prompt]
    generator = torch.Generator().manual_seed(seed)
    state = None
    pending = torch.tensor([ids])
    out = []
    for _ in range(n_chars):
        if mode == "many_to_many":
            logits, state = model(pending, state)
        else:
            logits, _ = model(torch.tensor([ids[-seq_length:]]))
        next_id = _choose(logits[0, -1], method, temperature, top_k, generator)
        ids.append(next_id)
        out.append(vocab[next_id])
        pending = torch.tensor([[next_id]])
    return "".join(out)


def _choose(logits: torch.Tensor, method: str, temperature: float, top_k: Optional[int],
            generator: torch.Generator) -> int:
    if method == "greedy":
        return int(logits.argmax())
    scaled = logits.double() / temperature
    if method == "top_k" and top_k is not None and top_k < len(scaled):
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    probabilities = torch.softmax(scaled, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))


@torch.no_grad()
def recursive_forecast(model: nn.Module, history: np.ndarray, horizon: int) -> np.ndarray:
    """Predict `horizon` steps ahead, feeding each prediction back as the newest input."""
    window = torch.as_tensor(np.asarray(history, dtype=np.float32)).clone()
    predictions = np.empty(horizon, dtype=np.float64)
    for step in range(horizon):
        value = model(window.unsqueeze(0))[0]
        predictions[step] = float(value)
        window = torch.cat([window[1:], value.reshape(1)])
    return predictions

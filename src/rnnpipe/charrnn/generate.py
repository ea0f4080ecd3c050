"""Text from the char-RNN: continue a prompt by greedy, temperature or top-k decoding."""
from __future__ import annotations

from typing import Any, Literal, Optional, Sequence, get_args

import torch
from torch import nn

from rnnpipe.charrnn.model import CharRNNConfig
from rnnpipe.core.errors import GenerationError
from rnnpipe.core.params import CharMode, GenerateParams

Method = Literal["greedy", "temperature", "top_k"]


def check_prompt(prompt: str, vocab: Sequence[str]) -> None:
    missing = sorted(set(prompt) - set(vocab))
    if missing:
        raise GenerationError(f"generate.prompt = {prompt!r} has characters outside the vocabulary: "
                              f"{''.join(missing)!r}; allowed are {''.join(vocab)!r}")


@torch.no_grad()
def generate_text(model: nn.Module, vocab: Sequence[str], prompt: str, n_chars: int, mode: CharMode,
                  seq_length: int, method: Method = "greedy", temperature: float = 1.0, top_k: Optional[int] = None,
                  seed: int = 0) -> str:
    """Continue `prompt` by n_chars characters.

    method: greedy (argmax, as the course), temperature (sample from softmax(logits / T)) or top_k (sample from
    the k most likely, after temperature). many_to_many models carry their state along; many_to_one models see
    the previous seq_length characters, as they were trained.
    """
    check_prompt(prompt, vocab)
    if method not in get_args(Method):
        raise GenerationError(f"method = {method!r}: allowed is {', '.join(get_args(Method))}")
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


def _choose(logits: torch.Tensor, method: Method, temperature: float, top_k: Optional[int],
            generator: torch.Generator) -> int:
    if method == "greedy":
        return int(logits.argmax())
    scaled = logits.double() / temperature
    if method == "top_k" and top_k is not None and top_k < len(scaled):
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    probabilities = torch.softmax(scaled, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))


def generate_samples(model: nn.Module, config: CharRNNConfig, g: GenerateParams) -> list[dict[str, Any]]:
    """One continuation of the prompt per decoding method, all with the same seed."""
    settings: list[dict[str, Any]] = [{"method": "greedy"},
                                      {"method": "temperature", "temperature": g.temperature},
                                      {"method": "top_k", "temperature": g.temperature, "top_k": g.top_k}]
    samples = []
    for setting in settings:
        text = generate_text(model, config.vocab, g.prompt, g.n_chars, config.mode, config.seq_length,
                             setting["method"], setting.get("temperature", 1.0), setting.get("top_k"), g.seed)
        samples.append({**setting, "seed": g.seed, "text": text})
    return samples


def samples_markdown(prompt: str, samples: list[dict[str, Any]]) -> str:
    """samples/text.md: one section per decoding method, the generated part in bold after the prompt."""
    lines = [f"# Samples after the prompt «{prompt}»", ""]
    for sample in samples:
        label = ", ".join(f"{k} {v}" for k, v in sample.items() if k != "text")
        lines += [f"## {label}", "", f"{prompt}**{sample['text']}**", ""]
    return "\n".join(lines)

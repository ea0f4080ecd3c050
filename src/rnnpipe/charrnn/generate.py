"""Text from the char-RNN: continue a prompt by greedy, temperature or top-k decoding."""
from __future__ import annotations

from typing import Any, Literal, Optional, Sequence, get_args

import torch

from rnnpipe.charrnn.model import CharRNN, CharRNNConfig
from rnnpipe.charrnn.inputs import check_prompt
from rnnpipe.core.errors import GenerationError
from rnnpipe.charrnn.params import CharMode, GenerateParams

Method = Literal["greedy", "temperature", "top_k"]


@torch.no_grad()
def generate_text(model: CharRNN, vocab: Sequence[str], prompt: str, n_chars: int, mode: CharMode,
                  seq_length: int, method: Method = "greedy", temperature: float = 1.0, top_k: Optional[int] = None,
                  seed: int = 0) -> str:
    """Continue `prompt` by n_chars characters.

    Each character is drawn from the char model's log_probs (with its n-gram part, when it has one). method: greedy
    (argmax, as the course), temperature (sample from softmax(log_probs / T)) or top_k (sample from the k most
    likely, after temperature). many_to_many models carry their state along; many_to_one models see the previous
    seq_length characters, as they were trained.
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
        log_probs = model.log_probs(logits[0, -1:], ids, [len(ids)])[0]
        next_id = _choose(log_probs, method, temperature, top_k, generator)
        ids.append(next_id)
        out.append(vocab[next_id])
        pending = torch.tensor([[next_id]])
    return "".join(out)


def _choose(log_probs: torch.Tensor, method: Method, temperature: float, top_k: Optional[int],
            generator: torch.Generator) -> int:
    if method == "greedy":
        return int(log_probs.argmax())
    scaled = log_probs.double() / temperature
    if method == "top_k" and top_k is not None and top_k < len(scaled):
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    probabilities = torch.softmax(scaled, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))


def generate_samples(model: CharRNN, config: CharRNNConfig, g: GenerateParams) -> list[dict[str, Any]]:
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


def sample_label(sample: dict[str, Any]) -> str:
    if sample["method"] == "greedy":
        return "greedy (the most likely character each time)"
    if sample["method"] == "temperature":
        return f"sampled at temperature {sample['temperature']:g}, seed {sample['seed']}"
    return f"sampled from the top {sample['top_k']} at temperature {sample['temperature']:g}, seed {sample['seed']}"


def samples_markdown(prompt: str, samples: list[dict[str, Any]]) -> str:
    """samples/text.md: one section per decoding method, the prompt in bold and the continuation after it.

    The bold part is the prompt without its trailing space (Markdown does not close `**` after a space), and the
    text is a quote, so a continuation that starts with a space or a digit renders as it reads."""
    stem, space = prompt.rstrip(" "), prompt[len(prompt.rstrip(" ")):]
    lines = [f"# Samples after the prompt «{prompt.strip()}»", ""]
    for sample in samples:
        lines += [f"## {sample_label(sample)}", "", f"> **{stem}**{space}{sample['text']}", ""]
    return "\n".join(lines)

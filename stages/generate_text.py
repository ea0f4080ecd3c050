"""Stage generate_text: continue the prompt by greedy, temperature and top-k decoding → samples/text.*."""
import sys

from rnnpipe.cli import configure_determinism, run_stage
from rnnpipe.generate import check_prompt, generate_text
from rnnpipe.io import file_digest, write_json, write_text
from rnnpipe.models import load_model
from rnnpipe.params import load_params
from rnnpipe.tracking import Tracker


def main(model_path: str = "models/charrnn/model.pt", out_dir: str = "samples") -> None:
    params = load_params()
    g = params.generate
    config, model = load_model(model_path)
    check_prompt(g.prompt, config["vocab"])  # before anything else: a bad prompt is a one-line error
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(g.seed)
    settings = [{"method": "greedy"},
                {"method": "temperature", "temperature": g.temperature},
                {"method": "top_k", "temperature": g.temperature, "top_k": g.top_k}]
    samples = []
    for setting in settings:
        text = generate_text(model, config["vocab"], g.prompt, g.n_chars, config["mode"], config["seq_length"],
                             setting["method"], setting.get("temperature", 1.0), setting.get("top_k"), g.seed)
        samples.append({**setting, "seed": g.seed, "text": text})
    write_json(f"{out_dir}/text.json", {"prompt": g.prompt, "n_chars": g.n_chars, "samples": samples})
    lines = [f"# Samples after the prompt «{g.prompt}»", ""]
    for s in samples:
        label = ", ".join(f"{k} {v}" for k, v in s.items() if k != "text")
        lines += [f"## {label}", "", f"{g.prompt}**{s['text']}**", ""]
    write_text(f"{out_dir}/text.md", "\n".join(lines))

    with tracker.model_run("charrnn", file_digest(model_path)):
        tracker.log_text("\n".join(lines), "samples/text.md")
    print("\n".join(f"{s['method']}: {g.prompt}|{s['text'][:80]}" for s in samples))


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

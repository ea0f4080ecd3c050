"""Stage generate_text: continue the prompt by greedy, temperature and top-k decoding → samples/text.*."""
import sys

from rnnpipe.core.runtime import configure_determinism, pin_numerics

PARAMS = pin_numerics()  # first: instruction sets and threads from params.yaml `runtime`, before torch loads

from rnnpipe.charrnn.generate import clean_prompt, generate_samples, samples_markdown
from rnnpipe.charrnn.model import load_charrnn
from rnnpipe.core.io import file_digest, write_json, write_text
from rnnpipe.core.stage import run_stage
from rnnpipe.core.tracking import Tracker


def main(model_path: str = "models/charrnn/model.pt", out_dir: str = "samples") -> None:
    g = PARAMS.generate
    config, model = load_charrnn(model_path)
    prompt = clean_prompt(g.prompt, config.vocab)  # before anything else: a bad prompt is a one-line error
    if prompt != g.prompt:
        print(f"generate: prompt {g.prompt!r} cleaned like the corpus: {prompt!r}")
    tracker = Tracker(PARAMS.tracking.enabled, PARAMS.tracking.uri)
    configure_determinism(g.seed)
    samples = generate_samples(model, config, g.model_copy(update={"prompt": prompt}))
    write_json(f"{out_dir}/text.json", {"prompt": prompt, "n_chars": g.n_chars, "samples": samples})
    markdown = samples_markdown(prompt, samples)
    write_text(f"{out_dir}/text.md", markdown)

    with tracker.model_run("charrnn", file_digest(model_path)):
        tracker.log_text(markdown, "samples.md")
    print("\n".join(f"{s['method']}: {prompt}|{s['text'][:80]}" for s in samples))


if __name__ == "__main__":
    run_stage(lambda: main(*sys.argv[1:]))

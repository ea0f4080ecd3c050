"""Stage generate_text: continue the prompt by greedy, temperature and top-k decoding → samples/text.*."""
from rnnpipe.charrnn.descriptor import DESCRIPTOR
from rnnpipe.charrnn.generate import generate_samples, samples_markdown
from rnnpipe.charrnn.inputs import clean_prompt
from rnnpipe.charrnn.model import load_charrnn
from rnnpipe.core.determinism import configure_determinism
from rnnpipe.core.io import file_digest, write_json, write_text
from rnnpipe.params import Params
from rnnpipe.tracking.runs import Tracker


def main(params: Params, model_path: str = "models/charrnn/model.pt", out_dir: str = "samples") -> None:
    g = params.generate
    config, model = load_charrnn(model_path)
    prompt = clean_prompt(g.prompt, config.vocab)  # before anything else: a bad prompt is a one-line error
    if prompt != g.prompt:
        print(f"generate: prompt {g.prompt!r} cleaned like the corpus: {prompt!r}")
    tracker = Tracker(params.tracking.enabled, params.tracking.uri)
    configure_determinism(g.seed)
    samples = generate_samples(model, config, g.model_copy(update={"prompt": prompt}))
    write_json(f"{out_dir}/text.json", {"prompt": prompt, "n_chars": g.n_chars, "samples": samples})
    markdown = samples_markdown(prompt, samples)
    write_text(f"{out_dir}/text.md", markdown)

    with tracker.model_run(DESCRIPTOR, file_digest(model_path)):
        tracker.log_text(markdown, "samples.md")
    print("\n".join(f"{s['method']}: {prompt}|{s['text'][:80]}" for s in samples))

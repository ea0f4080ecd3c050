"""What command 1 prints at the end: each model's headline figure next to its baselines, one generated line, and
where the plots, samples and MLflow runs are. Read in five seconds.

    python -m rnnpipe.summary [--seconds N]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional


def _read(root: Path, name: str) -> Optional[dict[str, Any]]:
    path = root / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def summary_lines(forecaster: Optional[dict], forecast: Optional[dict], charrnn: Optional[dict],
                  samples: Optional[dict], runs_tables: Optional[dict[str, str]] = None,
                  seconds: Optional[float] = None, store: Optional[str] = None) -> list[str]:
    """The summary from the metrics and samples files (each may be missing: its line then says how to make it).
    `store`: the tracking URI the runs tables are on (a server's address, or the project's SQLite file)."""
    lines = [f"rnnpipe: pipeline finished{f' in {int(seconds) // 60} min {int(seconds) % 60} s' if seconds else ''}"]
    if forecaster:
        mse, floor, linear = forecaster["test_mse"], forecaster["noise_floor_mse"], forecaster["linear_ar_mse"]
        lines.append(f"  forecaster  test MSE {mse:.5f} = {mse / floor:.2f}x the noise floor ({floor:.5f}), "
                     f"{mse / linear:.2f}x a linear AR on the same window ({linear:.5f})")
        if forecast:
            steps = f"{forecast['horizon']}-step " if "horizon" in forecast else ""
            lines.append(f"              its {steps}recursive forecast: MSE {forecast['mse_vs_clean']:.4f} against "
                         "the clean signal")
    else:
        lines.append("  forecaster  no metrics/forecaster.json yet: dvc repro evaluate_forecaster")
    if charrnn:
        alone = charrnn.get("rnn_bits_per_char")
        part = f" (RNN alone {alone:.3f})" if alone is not None and alone != charrnn["bits_per_char"] else ""
        lines.append(f"  char-RNN    {charrnn['bits_per_char']:.3f} bits/char on held-out text{part}; Kneser-Ney "
                     f"n-gram {charrnn['ngram_bits_per_char']:.3f}, unigram {charrnn['unigram_bits_per_char']:.3f}")
    else:
        lines.append("  char-RNN    no metrics/charrnn.json yet: dvc repro evaluate_charrnn")
    if samples and samples.get("samples"):
        sample = samples["samples"][-1]
        text = (samples["prompt"] + sample["text"]).replace("\n", " ")
        lines.append(f"  a sample    «{text[:90].strip()}{'…' if len(text) > 90 else ''}» ({sample['method']}, "
                     f"seed {sample['seed']})")
    lines.append("  files       samples/text.md, samples/forecast.png, plots/*/*.png; metrics/ and reports/*.json")
    lines.append("  plots       dvc plots show, then open dvc_plots/index.html (it loads Vega from the web)")
    if runs_tables and store and store.startswith("http"):
        lines.append(f"  MLflow      the runs on {store}:")
        lines += [f"              {kind:<10}  {url}" for kind, url in runs_tables.items()]
    elif runs_tables:
        lines.append("  MLflow      mlflow ui --backend-store-uri sqlite:///$PWD/mlflow.db --port 5000, then")
        lines += [f"              {kind:<10}  {url}" for kind, url in runs_tables.items()]
    return lines


def runs_tables(root: Path) -> tuple[Optional[str], Optional[dict[str, str]]]:
    """The tracking URI and the runs-table links of both experiments, when tracking is on and the store answers
    (else None, None)."""
    try:
        from rnnpipe.core.params import load_params
        from rnnpipe.core.tracking import EXPERIMENTS, Tracker

        tracking = load_params(root / "params.yaml").tracking
        if not tracking.enabled:
            return None, None
        tracker = Tracker(True, tracking.uri)
        return tracker.uri, {kind: tracker.runs_table_url(kind) for kind in EXPERIMENTS}
    except Exception:  # the summary never fails the command that already ran the pipeline
        return None, None


def main() -> None:
    parser = argparse.ArgumentParser(description="a five-second summary of the pipeline's results")
    parser.add_argument("--seconds", type=float, help="how long the pipeline took")
    args = parser.parse_args()
    root = Path.cwd()
    store, tables = runs_tables(root)
    print("\n".join(summary_lines(_read(root, "metrics/forecaster.json"),
                                  {**(_read(root, "reports/forecast.json") or {}),
                                   **(_read(root, "metrics/forecast.json") or {})} or None,
                                  _read(root, "metrics/charrnn.json"), _read(root, "samples/text.json"),
                                  tables, args.seconds, store)))


if __name__ == "__main__":
    main()

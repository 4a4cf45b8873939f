"""The detector comparison table of the README, from one command.

    python scripts/bench_detectors.py [--data ../shared/data/faces] [--workers N]

Runs ``deid eval`` (the real pipeline) on the caltech and crowds sets with BlazeFace
alone, CenterFace alone at one scale (int8, as it runs on the CPU, and float32), the default
config and the fast preset, and prints
the protected rate by face height, false regions and images/s as a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from deid.config import load_config
from deid.evaluate import HEIGHT_BINS, bin_label, evaluate

PROJECT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "BlazeFace alone": PROJECT / "scripts" / "bench_configs" / "blazeface.toml",
    "CenterFace alone, 1 scale": PROJECT / "scripts" / "bench_configs" / "centerface_single.toml",
    "CenterFace alone, 1 scale, float32": PROJECT / "scripts" / "bench_configs" / "centerface_single_float32.toml",
    "default": PROJECT / "configs" / "default.toml",
    "fast": PROJECT / "configs" / "fast.toml",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "faces")
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    labels = [bin_label(low, high) for low, high in HEIGHT_BINS]
    print("| set | config | " + " | ".join(f"{b} px" for b in labels) + " | all | false regions | images/s |")
    print("|---|---|" + "---:|" * (len(labels) + 3))
    results = {}
    for subset in ("caltech", "crowds"):
        for name, path in CONFIGS.items():
            config = dataclasses.replace(load_config(path), workers=args.workers)
            result = evaluate(args.data / subset, args.data / "faces.json", config)
            results[f"{subset}/{name}"] = result
            rates = [_pct(result["by_height"][b]["rate"]) for b in labels]
            print(f"| {subset} | {name} | " + " | ".join(rates)
                  + f" | {_pct(result['protected_rate'])} | {result['false_regions']} | {result['images_per_s']} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


if __name__ == "__main__":
    main()

"""The detector comparison table of the README, from one command.

    python scripts/bench_detectors.py [--data ../shared/data/faces] [--workers N]
        [--sets wider,wider_train,caltech,crowds] [--configs default,strict,...]

Runs ``deid eval`` (the real pipeline) on the real crowd photos (wider, wider_train), the
web photos (caltech) and the mosaics (crowds) with BlazeFace alone, CenterFace alone at
one scale (int8, as it runs on the CPU, and float32), the default config and the strict
and fast presets, and prints the protected rate by face height and for faces >= 16 px,
false regions and images/s as a Markdown table. Faces in a record's ``ignore`` list count
neither way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from deid.config import load_config
from deid.evaluate import HEIGHT_BINS, RECOGNISABLE_HEIGHT, bin_label, evaluate

PROJECT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "BlazeFace alone": PROJECT / "scripts" / "bench_configs" / "blazeface.toml",
    "CenterFace alone": PROJECT / "scripts" / "bench_configs" / "centerface_single.toml",
    "CenterFace alone float32": PROJECT / "scripts" / "bench_configs" / "centerface_single_float32.toml",
    "default": PROJECT / "src" / "deid" / "presets" / "default.toml",
    "strict": PROJECT / "src" / "deid" / "presets" / "strict.toml",
    "fast": PROJECT / "src" / "deid" / "presets" / "fast.toml",
}
SETS = ("wider", "wider_train", "caltech", "crowds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "faces")
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated. Default: {','.join(SETS)}")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="comma-separated names of the rows. Default: all: " + ", ".join(CONFIGS))
    args = parser.parse_args()
    names = args.configs.split(",")
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown config {unknown[0]!r}; choose from: {', '.join(CONFIGS)}")
    labels = [bin_label(low, high) for low, high in HEIGHT_BINS]
    print("| set | config | " + " | ".join(f"{b} px" for b in labels)
          + f" | >={RECOGNISABLE_HEIGHT} px | all | false regions | images/s |")
    print("|---|---|" + "---:|" * (len(labels) + 4))
    results = {}
    for subset in args.sets.split(","):
        for name in names:
            config = dataclasses.replace(load_config(CONFIGS[name]), workers=args.workers)
            result = evaluate(args.data / subset, args.data / "faces.json", config)
            results[f"{subset}/{name}"] = result.to_json()
            protection = result.protection
            rates = [_pct(protection.by_height[b].rate) for b in labels]
            print(f"| {subset} | {name} | " + " | ".join(rates) + f" | **{_pct(protection.recognisable_rate)}**"
                  + f" | {_pct(protection.protected_rate)} | {result.false_regions} | {result.images_per_s} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


if __name__ == "__main__":
    main()

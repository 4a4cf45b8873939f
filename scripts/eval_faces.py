"""Protected-face rate of the real pipeline on a folder with ground-truth face boxes.

    python scripts/eval_faces.py ../shared/data/faces/caltech ../shared/data/faces/faces.json
    python scripts/eval_faces.py ../shared/data/faces/crowds ../shared/data/faces/faces.json \
        --config configs/default.toml --json crowds.json

Prints the protected rate overall and by face height as a Markdown table; a face counts as
protected when the union of anonymized regions covers at least 80% of its box.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deid.config import load_config
from deid.errors import DeidError
from deid.evaluate import evaluate, format_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images_dir", type=Path, help="folder of images to run deid on")
    parser.add_argument("gt_json", type=Path, help="ground truth, paths relative to its folder")
    parser.add_argument("--config", type=Path, help="config TOML (default: built-in defaults)")
    parser.add_argument("--workers", type=int, help="override the config's worker count")
    parser.add_argument("--json", type=Path, help="also write the full result here")
    args = parser.parse_args()
    try:
        config = load_config(args.config)
        if args.workers is not None:
            import dataclasses

            config = dataclasses.replace(config, workers=args.workers)
        result = evaluate(args.images_dir, args.gt_json, config)
    except DeidError as exc:
        print(f"eval_faces: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A contact sheet of the faces deid did not protect, to see what it still misses.

    python scripts/missed_faces_sheet.py IMAGES_DIR GT_JSON --out SHEET.png
        [--config TOML] [--eval EVAL.json] [--min-height 16] [--columns 12]

Runs ``deid eval`` on IMAGES_DIR (or reads the JSON a previous ``deid eval --json`` wrote,
with ``--eval``), then crops every ground-truth face at least ``--min-height`` px tall that
the anonymized regions covered less than 80% of, with some context around it, from the
original image, and tiles the crops into one PNG, each labelled with the face's height and
the share of it that was covered. The sheet shows unprotected faces of the input: write it
where the data may be seen, never into a dataset or this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageOps

if TYPE_CHECKING:
    from deid.evaluate import MissedFace

PROJECT = Path(__file__).resolve().parents[1]
CELL = 128  # px, each crop's side on the sheet
LABEL = 14  # px of caption under each crop
CONTEXT = 0.5  # of the face's size, shown around it on every side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images_dir", type=Path)
    parser.add_argument("gt_json", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--config", type=Path, help="deid config. Default: the built-in defaults")
    parser.add_argument("--eval", type=Path, dest="eval_json", help="reuse this `deid eval --json` result")
    parser.add_argument("--min-height", type=float, default=16.0, help="smallest face shown (px). Default: 16")
    parser.add_argument("--columns", type=int, default=12, help="crops per row. Default: 12")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT / "src"))
    from deid.config import load_config
    from deid.evaluate import MissedFace, evaluate

    if args.eval_json:
        result = json.loads(args.eval_json.read_text(encoding="utf-8"))
        all_missed = [MissedFace(m["image"], m["box"], m["covered"]) for m in result["missed"]]
    else:
        all_missed = evaluate(args.images_dir, args.gt_json, load_config(args.config)).missed
    missed = [m for m in all_missed if m.box[3] - m.box[1] >= args.min_height]
    if not missed:
        print(f"no face of {args.min_height:g} px or more was missed")
        return 0
    sheet = contact_sheet(args.images_dir, missed, args.columns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"{len(missed)} missed faces of {args.min_height:g} px or more: {args.out}")
    return 0


def contact_sheet(images_dir: Path, missed: list[MissedFace], columns: int) -> Image.Image:
    rows = -(-len(missed) // columns)
    sheet = Image.new("RGB", (columns * CELL, rows * (CELL + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    # Each image is decoded once, however many of its faces were missed.
    by_image: dict[str, list[int]] = {}
    for index, face in enumerate(missed):
        by_image.setdefault(face.image, []).append(index)
    for name, indices in by_image.items():
        with Image.open(images_dir / name) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        for index in indices:
            x1, y1, x2, y2 = missed[index].box
            pad = CONTEXT * max(x2 - x1, y2 - y1)
            crop = image.crop((round(x1 - pad), round(y1 - pad), round(x2 + pad), round(y2 + pad)))
            crop = ImageOps.contain(crop, (CELL, CELL), Image.Resampling.BICUBIC)
            left, top = (index % columns) * CELL, (index // columns) * (CELL + LABEL)
            sheet.paste(crop, (left + (CELL - crop.width) // 2, top + (CELL - crop.height) // 2))
            draw.text((left + 2, top + CELL), f"{y2 - y1:.0f}px {100 * missed[index].covered:.0f}%", fill="black")
    return sheet


if __name__ == "__main__":
    sys.exit(main())

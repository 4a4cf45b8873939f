"""False regions on full-size photos: every region deid covers on the camera set, on a
contact sheet, and a count for the photos with nobody in them.

    python scripts/camera_regions.py [--data ../shared/data/photos/camera] [--config TOML]
        [--sheet SHEET.png] [--workers N]

Runs ``deid run`` on the photos, then prints, for each photo, whether it shows people
(scripts/camera_people.json: a person's own judgement of each photo, not ground truth of
faces), how many regions were covered and the largest one's share of the photo; then,
for the photos with nobody in them, regions per ten photos and the largest share. With
--sheet, it also writes every region, cropped from the original with some context and
labelled (photo, detector, score, height, share), to one PNG: to look at what the
regions are. The sheet shows the input's pixels: write it where the data may be seen,
never into a dataset or this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

PROJECT = Path(__file__).resolve().parents[1]
LABELS = Path(__file__).resolve().parent / "camera_people.json"
CELL = 160  # px, each crop's side on the sheet
LABEL = 26  # px of caption under each crop
CONTEXT = 0.5  # of the region's size, shown around it on every side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "photos" / "camera")
    parser.add_argument("--config", type=Path, help="deid config. Default: the built-in defaults")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet of every region here")
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--columns", type=int, default=10, help="crops per row of the sheet. Default: 10")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT / "src"))
    import dataclasses

    from deid.config import Config, load_config
    from deid.pipeline import run
    from deid.report import read_records

    if not args.data.is_dir():
        raise SystemExit(f"{args.data} is not a folder; give --data")
    labels = json.loads(LABELS.read_text(encoding="utf-8"))["photos"]
    config = dataclasses.replace(load_config(args.config) if args.config else Config(), workers=args.workers)
    with tempfile.TemporaryDirectory(prefix="deid-camera-") as tmp:
        run(args.data, Path(tmp) / "out", config=config, report_dir=Path(tmp) / "report")
        records = read_records(Path(tmp) / "report")
    print("| photo | people | regions | largest region (share of the photo) |")
    print("|---|---|---:|---:|")
    nobody_photos = nobody_regions = 0
    nobody_largest = 0.0
    crops = []
    for record in records:
        area = record["width"] * record["height"]
        shares = [_area(face["region"]) / area for face in record["faces"]]
        people = labels.get(record["source"], {}).get("people")
        largest = max(shares, default=0.0)
        print(f"| {record['source']} | {_yes_no(people)} | {len(shares)} | {100 * largest:.2f}% |")
        if people is False:
            nobody_photos += 1
            nobody_regions += len(shares)
            nobody_largest = max(nobody_largest, largest)
        crops += [(record["source"], face, share) for face, share in zip(record["faces"], shares)]
    print()
    if nobody_photos:
        print(f"photos with nobody in them: {nobody_photos}; {nobody_regions} regions "
              f"({10 * nobody_regions / nobody_photos:.1f} per ten photos); largest {100 * nobody_largest:.2f}% of its photo")
    if args.sheet and crops:
        contact_sheet(args.data, crops, args.columns).save(args.sheet)
        print(f"{len(crops)} regions: {args.sheet}")
    return 0


def _area(box: list[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _yes_no(people: bool | None) -> str:
    return "?" if people is None else ("yes" if people else "no")


def contact_sheet(images_dir: Path, crops: list[tuple[str, dict, float]], columns: int) -> Image.Image:
    rows = -(-len(crops) // columns)
    sheet = Image.new("RGB", (columns * CELL, rows * (CELL + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    opened: dict[str, Image.Image] = {}
    for index, (source, face, share) in enumerate(crops):
        if source not in opened:
            opened.clear()  # one full-size photo in memory at a time
            opened[source] = ImageOps.exif_transpose(Image.open(images_dir / source)).convert("RGB")
        image = opened[source]
        x1, y1, x2, y2 = face["region"]
        grow = CONTEXT * max(x2 - x1, y2 - y1)
        box = (max(0, x1 - grow), max(0, y1 - grow), min(image.width, x2 + grow), min(image.height, y2 + grow))
        crop = image.crop(box)
        outline = ImageDraw.Draw(crop)
        outline.rectangle((x1 - box[0], y1 - box[1], x2 - box[0], y2 - box[1]), outline=(255, 0, 0),
                          width=max(1, int(max(crop.size) / 100)))
        crop.thumbnail((CELL, CELL))
        x, y = (index % columns) * CELL, (index // columns) * (CELL + LABEL)
        sheet.paste(crop, (x, y))
        height = face["box"][3] - face["box"][1]
        draw.text((x + 2, y + CELL), f"{Path(source).stem} {face['detector'][:10]}", fill="black")
        draw.text((x + 2, y + CELL + 12), f"{face['score']:.2f} {height:.0f}px {100 * share:.2f}%", fill="black")
    return sheet


if __name__ == "__main__":
    sys.exit(main())

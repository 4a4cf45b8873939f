"""A test set for text covering: identifying and harmless strings rendered on photos.

    python scripts/make_text_set.py OUT_DIR [--images 24] [--seed 0]

Backgrounds are the photos of sample_data/ (public domain) and synthetic scenes; on each,
four strings are drawn on a sign or badge plate, at text heights of 10-40 px, turned by up
to 15 degrees, in fonts of the Debian packages fonts-dejavu-core (DejaVu Sans, Sans Bold,
Serif, Sans Mono) and fonts-liberation (Liberation Sans, Serif, Mono). Writes the images
and ``texts.json`` in the format ``deid eval`` reads:
``{"images": [{"image": NAME, "faces": [], "texts": [{"box": [x1, y1, x2, y2],
"identifying": bool, "kind": KIND}]}]}``, the box tight around the ink of the string.

Identifying: personal names (badges), licence plates, phone numbers, e-mail addresses,
handles, street addresses, ID numbers. Not identifying: sign words, a date, a time, a
price (deid leaves a date on its own alone: it names no one).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PROJECT = Path(__file__).resolve().parents[1]
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation")]
FONT_FILES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
    "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf",
]
IDENTIFYING = {
    "name": ["Grace Hopper", "Dr. Maria Lopez", "JOHN SMITH", "Anna Kowalski", "Priya Patel", "Kenji Watanabe",
             "Olusegun Adeyemi", "Sofia Rossi"],
    "plate": ["AB12 CDE", "7XYZ482", "KA 05 MN 2041", "B-MW 2041", "HR 26 DQ 5551", "LX19 KPT"],
    "phone": ["+44 20 7946 0958", "(555) 014-2368", "06 12 34 56 78", "+1 415 555 0134"],
    "email": ["anna.k@example.org", "j.doe@mail.com", "priya.p@uni.edu"],
    "handle": ["@maria_lopez", "@kenji.w", "@sofia_r"],
    "street": ["221B Baker Street", "1600 Penn Ave", "42 Rue Lepic", "17 Elm Road"],
    "id": ["ID 48213957", "Employee 58213", "No. 7730419"],
}
OTHER = {
    "sign": ["EXIT", "OPEN", "Coffee", "Welcome", "Main Hall", "NO PARKING", "Push", "Information", "Toilets"],
    "date": ["2024-05-17", "17/05/2024"],
    "time": ["12:30"],
    "price": ["$4.50"],
}
TEXT_HEIGHTS = [10, 12, 14, 18, 24, 32, 40]
ANGLES = [0, 0, 0, -6, 6, -12, 12, -15, 15]
SIDE = 640


def fonts() -> list[Path]:
    found = [d / name for d in FONT_DIRS for name in FONT_FILES if (d / name).is_file()]
    if not found:
        raise SystemExit("no DejaVu or Liberation fonts: apt-get install fonts-dejavu-core fonts-liberation")
    return found


def backgrounds(rng: random.Random, count: int) -> list[Image.Image]:
    photos = sorted(p for p in (PROJECT / "sample_data").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    images = []
    for index in range(count):
        if index % 2 == 0 and photos:
            image = Image.open(photos[(index // 2) % len(photos)]).convert("RGB")
            image.thumbnail((SIDE, SIDE))
        else:
            # A synthetic scene: a wall and a floor in two tones, with sensor noise.
            gen = np.random.default_rng(rng.randrange(1 << 30))
            top, bottom = gen.integers(60, 220, 3), gen.integers(30, 200, 3)
            split = int(gen.integers(200, 400))
            pixels = np.zeros((480, SIDE, 3))
            pixels[:split] = top
            pixels[split:] = bottom
            pixels += gen.normal(0, 6, pixels.shape)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        images.append(image)
    return images


def draw_string(image: Image.Image, text: str, font_path: Path, height: int, angle: int, place: tuple[int, int],
                dark_on_light: bool) -> list[float] | None:
    """Draw ``text`` on a plate at ``place``; the box around its ink, or None if it does not fit."""
    font = ImageFont.truetype(str(font_path), size=max(6, round(height / 0.72)))
    left, top, right, bottom = font.getbbox(text)
    pad = max(4, height // 2)
    width, tall = right - left + 2 * pad, bottom - top + 2 * pad
    plate = Image.new("RGBA", (width, tall), (240, 240, 235, 255) if dark_on_light else (25, 30, 40, 255))
    ink = Image.new("L", (width, tall), 0)
    colour = (15, 15, 20, 255) if dark_on_light else (245, 245, 240, 255)
    ImageDraw.Draw(plate).text((pad - left, pad - top), text, font=font, fill=colour)
    ImageDraw.Draw(ink).text((pad - left, pad - top), text, font=font, fill=255)
    plate = plate.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    ink = ink.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    x, y = place
    if x + plate.width > image.width or y + plate.height > image.height:
        return None
    image.paste(plate, (x, y), plate)
    box = ink.point(lambda v: 255 if v > 64 else 0).getbbox()
    return [float(x + box[0]), float(y + box[1]), float(x + box[2]), float(y + box[3])]


def make(out_dir: Path, images: int, seed: int) -> Path:
    rng = random.Random(seed)
    font_paths = fonts()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, image in enumerate(backgrounds(rng, images)):
        texts, taken = [], []
        for slot in range(4):
            identifying = slot % 2 == 0
            kinds = IDENTIFYING if identifying else OTHER
            kind = rng.choice(sorted(kinds))
            text = rng.choice(kinds[kind])
            for _ in range(30):  # a free place for it
                place = (rng.randrange(0, max(1, image.width - 80)), rng.randrange(0, max(1, image.height - 30)))
                trial = image.copy()
                box = draw_string(trial, text, rng.choice(font_paths), rng.choice(TEXT_HEIGHTS), rng.choice(ANGLES),
                                  place, rng.random() < 0.7)
                if box is None:
                    continue
                grown = [box[0] - 12, box[1] - 12, box[2] + 12, box[3] + 12]
                if any(g[0] < grown[2] and grown[0] < g[2] and g[1] < grown[3] and grown[1] < g[3] for g in taken):
                    continue
                image = trial
                taken.append(grown)
                texts.append({"box": [round(v, 1) for v in box], "identifying": identifying, "kind": kind})
                break
        name = f"text_{index:03d}.jpg"
        image.save(out_dir / name, quality=92)
        entries.append({"image": name, "width": image.width, "height": image.height, "faces": [], "texts": texts})
    gt = out_dir / "texts.json"
    gt.write_text(json.dumps({"images": entries}, indent=1) + "\n")
    return gt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gt = make(args.out_dir, args.images, args.seed)
    print(f"written: {args.out_dir} ({args.images} images), ground truth {gt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many covered faces a face recogniser still re-identifies, for each anonymization mode.

    python scripts/reid_by_mode.py [--data ../shared/data/faces/caltech] [--images N] [--workers 2]

Each photo goes through deid's own stages: the default detectors find the faces once;
then, for every setting below, the faces are covered, the image is encoded as deid writes
it (JPEG, quality 95) and decoded again, and each covered face at least 16 px tall is
embedded by dlib's ResNet recogniser from the original and from the output at the same
place (deid.reid). A face counts as re-identified by the rule of ``deid verify --source``
(deid.verify.reidentified): the output and its original pick each other out of every face
checked and of every original with its face blacked out, within the recogniser's match
distance of 0.6. Prints docs/verify.md's table.

Needs the audit extra (pip install 'deid[audit]').
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))

from deid.config import AnonymizeConfig, Config, OutputConfig  # noqa: E402

# (label, anonymize settings); the defaults of each mode first.
SETTINGS = [
    ("solid (default)", {"mode": "solid"}),
    ("noise", {"mode": "noise"}),
    ("pixelate, 6 cells (default)", {"mode": "pixelate"}),
    ("pixelate, 6 cells, no noise", {"mode": "pixelate", "pixelate_noise": 0.0}),
    ("pixelate, 10 cells", {"mode": "pixelate", "pixelate_cells": 10}),
    ("pixelate, 16 cells", {"mode": "pixelate", "pixelate_cells": 16}),
    ("blur 0.2 (default)", {"mode": "blur"}),
    ("blur 0.1", {"mode": "blur", "blur_strength": 0.1}),
    ("blur 0.05", {"mode": "blur", "blur_strength": 0.05}),
    ("blur 0.02", {"mode": "blur", "blur_strength": 0.02}),
]


def embed_photo(path: Path) -> list[tuple[str, list[float], np.ndarray, np.ndarray, list[np.ndarray]]]:
    """(photo, box, original embedding, blank embedding, output embedding per setting) for
    each face."""
    from deid.anonymize import build_anonymizer
    from deid.decode import decode
    from deid.encode import encode
    from deid.process import cached_stages
    from deid.reid import FaceRecogniser

    global _RECOGNISER
    if _RECOGNISER is None:
        _RECOGNISER = FaceRecogniser()
    stages = cached_stages(Config(workers=1), 1)
    pixels = decode(path.read_bytes(), 100_000_000).frames[0][:, :, :3]
    faces = stages.detector.detect(pixels)
    if not len(faces):
        return []
    placed = _RECOGNISER.landmarks(pixels, [[float(v) for v in box] for box in faces.xyxy])
    if not placed:
        return []
    shapes = [shape for _, shape in placed]
    originals = _RECOGNISER.embed(pixels, shapes)
    outputs = []
    for index, (_, settings) in enumerate(SETTINGS):
        anonymizer = build_anonymizer(AnonymizeConfig(**settings))
        covered = anonymizer.anonymize(pixels, faces, np.random.default_rng([index, len(faces)]))
        written = decode(encode([covered], "JPEG", OutputConfig()), 100_000_000).frames[0]
        outputs.append(_RECOGNISER.embed(written, shapes))
    blanks = []
    for (box, shape) in placed:
        blanked = pixels.copy()
        x1, y1, x2, y2 = (max(int(round(v)), 0) for v in box)
        blanked[y1:y2, x1:x2] = 0
        blanks.append(_RECOGNISER.embed(blanked, [shape])[0])
    return [
        (path.name, box, originals[face], blanks[face], [per_setting[face] for per_setting in outputs])
        for face, (box, _) in enumerate(placed)
    ]


_RECOGNISER = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "faces" / "caltech")
    parser.add_argument("--images", type=int, default=0, help="first N photos (sorted by name); 0 = all")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} not found; give --data", file=sys.stderr)
        return 2
    from deid.reid import EmbeddedFace
    from deid.verify import reidentified

    photos = sorted(p for p in args.data.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if args.images:
        photos = photos[: args.images]
    started = time.monotonic()
    faces = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        for found in pool.map(embed_photo, photos, chunksize=4):
            faces += found
    print(f"{len(photos)} photos, {len(faces)} faces >= 16 px checked, {time.monotonic() - started:.0f} s")
    print()
    print("| mode | re-identified | within distance 0.6 | nearer its original than its blank |")
    print("|---|---:|---:|---:|")
    for index, (label, _) in enumerate(SETTINGS):
        result = reidentified([
            (name, 0, EmbeddedFace(box, original, outputs[index], blank)) for name, box, original, blank, outputs in faces
        ])
        checked = result.checked
        nearer = sum(
            np.linalg.norm(outputs[index] - original) < np.linalg.norm(outputs[index] - blank)
            for _, _, original, blank, outputs in faces
        )
        print(
            f"| {label} | {result.matched} of {checked} ({100 * result.matched / max(checked, 1):.1f}%) "
            f"| {100 * result.within_distance / max(checked, 1):.1f}% | {100 * nearer / max(checked, 1):.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

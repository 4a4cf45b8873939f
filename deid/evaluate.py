"""Measures how many ground-truth faces the real pipeline protects.

A face counts as protected when the union of anonymized regions covers at least
``PROTECTED_COVERAGE`` of its box. Ground truth uses the format of the shared face sets:
``{"images": [{"image": "dir/name.jpg", "width": W, "height": H, "faces": [[x1, y1, x2, y2], ...],
"ignore": [[x1, y1, x2, y2], ...]}]}`` with image paths relative to the JSON file's folder.
``ignore`` (optional) holds faces the annotators marked invalid (WIDER FACE's "invalid"
flag: too blurred, too small or too occluded to label): they count neither way, neither as
faces to protect nor, when a region covers one, as false regions.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deid.anonymize import region_mask
from deid.boxes import clip_boxes
from deid.config import Config
from deid.errors import UsageError
from deid.pipeline import run
from deid.report import OK, read_records

# The shared data's scoring rule: 80% of a face hidden leaves too little to recognise it.
PROTECTED_COVERAGE = 0.8
# Faces at least this tall (px) are the ones a person can recognise in a real photo
# (WIDER FACE's "medium" faces start near 16 px at 416 px): deid's recall targets are
# stated for them, and eval reports them on their own line.
RECOGNISABLE_HEIGHT = 16
# Face height bins (px) of the scoring rule; the last is open-ended.
HEIGHT_BINS = ((0, 8), (8, 16), (16, 32), (32, 64), (64, None))


def bin_label(low: int, high: int | None) -> str:
    if low == 0:
        return f"<{high}"
    return f">={low}" if high is None else f"{low}-{high}"


@dataclass(frozen=True)
class GroundTruth:
    """One image's labelled faces (N x 4 xyxy) and the boxes that count neither way (M x 4)."""

    faces: np.ndarray
    ignore: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", np.asarray(self.faces, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "ignore", np.asarray(self.ignore, dtype=np.float64).reshape(-1, 4))


def load_ground_truth(images_dir: Path, gt_json: Path) -> dict[str, GroundTruth]:
    """GT of the images inside ``images_dir``, keyed by path relative to it."""
    try:
        entries = json.loads(Path(gt_json).read_text(encoding="utf-8"))["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read ground truth {gt_json}: {exc}") from None
    root, images_root = Path(gt_json).resolve().parent, Path(images_dir).resolve()
    truth = {}
    for entry in entries:
        path = (root / entry["image"]).resolve()
        if path.is_relative_to(images_root):
            truth[path.relative_to(images_root).as_posix()] = GroundTruth(entry["faces"], entry.get("ignore", []))
    if not truth:
        raise UsageError(f"no image of {gt_json} lies inside {images_dir}")
    return truth


def coverage(faces: np.ndarray, regions: np.ndarray, shape: str, width: int, height: int) -> np.ndarray:
    """Fraction of each face box (N x 4) covered by the union of regions (M x 4)."""
    covered = np.zeros((height, width), dtype=bool)
    outer = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    for region, window in zip(outer, clip_boxes(np.round(outer), width, height).astype(np.int64)):
        x1, y1, x2, y2 = window
        if x2 > x1 and y2 > y1:
            covered[y1:y2, x1:x2] |= region_mask(shape, region, (x1, y1, x2, y2))
    fractions = np.zeros(len(faces))
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(faces, dtype=np.float64).reshape(-1, 4)):
        xa, ya = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        xb, yb = min(int(np.ceil(x2)), width), min(int(np.ceil(y2)), height)
        if xb > xa and yb > ya:
            fractions[i] = covered[ya:yb, xa:xb].mean()
    return fractions


def evaluate(images_dir: str | Path, gt_json: str | Path, config: Config | None = None) -> dict[str, Any]:
    config = config or Config()
    truth = load_ground_truth(Path(images_dir), Path(gt_json))
    with tempfile.TemporaryDirectory(prefix="deid-eval-") as tmp:
        summary = run(images_dir, Path(tmp) / "out", config=config, report_dir=Path(tmp) / "report")
        records = read_records(Path(tmp) / "report")
    result = score_records(truth, records, config.anonymize.shape)
    wall = summary.details["wall_time_s"]
    result["images_per_s"] = round(len(truth) / wall, 2) if wall else None
    result["wall_time_s"] = wall
    result["config"] = config.to_dict()
    return result


def score_records(truth: dict[str, GroundTruth], records: list[dict[str, Any]], shape: str) -> dict[str, Any]:
    """Protected rate of the ground-truth faces given a run's report records, with every
    face that was not protected (``missed``: image, box, the fraction covered)."""
    by_source = {r["source"]: r for r in records}
    heights, protected, false_regions, missing, missed = [], [], 0, [], []
    for source, gt in truth.items():
        record = by_source.get(source)
        boxes = gt.faces
        heights += list(boxes[:, 3] - boxes[:, 1])
        if record is None or record["status"] != OK:
            missing.append(source)
            fractions = np.zeros(len(boxes))
        else:
            regions = np.asarray([f["region"] for f in record["faces"]], dtype=np.float64).reshape(-1, 4)
            fractions = coverage(boxes, regions, shape, record["width"], record["height"])
            labelled = np.concatenate([boxes, gt.ignore])
            false_regions += int(sum(1 for r in regions if not _overlaps_any(r, labelled)))
        protected += list(fractions >= PROTECTED_COVERAGE)
        missed += [
            {"image": source, "box": [round(float(v), 1) for v in box], "covered": round(float(f), 3)}
            for box, f in zip(boxes, fractions) if f < PROTECTED_COVERAGE
        ]
    result = rates_by_height(np.asarray(heights), np.asarray(protected, dtype=bool))
    result.update(images=len(truth), images_not_processed=missing, false_regions=false_regions,
                  ignored_faces=int(sum(len(gt.ignore) for gt in truth.values())), missed=missed)
    return result


def rates_by_height(heights: np.ndarray, protected: np.ndarray) -> dict[str, Any]:
    by_height = {}
    for low, high in HEIGHT_BINS:
        in_bin = (heights >= low) & ((heights < high) if high is not None else True)
        n = int(in_bin.sum())
        by_height[bin_label(low, high)] = {
            "faces": n,
            "protected": int(protected[in_bin].sum()),
            "rate": round(float(protected[in_bin].mean()), 4) if n else None,
        }
    tall = heights >= RECOGNISABLE_HEIGHT
    return {
        "faces": len(protected),
        "protected": int(protected.sum()),
        "protected_rate": round(float(protected.mean()), 4) if len(protected) else None,
        f"protected_rate_{RECOGNISABLE_HEIGHT}px_and_up": round(float(protected[tall].mean()), 4) if tall.any() else None,
        "by_height": by_height,
    }


def _overlaps_any(region: np.ndarray, boxes: np.ndarray) -> bool:
    if not len(boxes):
        return False
    inter_w = np.minimum(region[2], boxes[:, 2]) - np.maximum(region[0], boxes[:, 0])
    inter_h = np.minimum(region[3], boxes[:, 3]) - np.maximum(region[1], boxes[:, 1])
    return bool(np.any((inter_w > 0) & (inter_h > 0)))


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"images: {result['images']}  faces: {result['faces']}"
        + (f" (+{result['ignored_faces']} ignored)" if result.get("ignored_faces") else "")
        + f"  protected: {result['protected']} "
        f"({_pct(result['protected_rate'])})  false regions: {result['false_regions']}  "
        f"images/s: {result['images_per_s']}",
        f"faces >= {RECOGNISABLE_HEIGHT} px: {_pct(result[f'protected_rate_{RECOGNISABLE_HEIGHT}px_and_up'])}",
        "",
        "| face height (px) | faces | protected | rate |",
        "|---|---:|---:|---:|",
    ]
    for label, row in result["by_height"].items():
        lines.append(f"| {label} | {row['faces']} | {row['protected']} | {_pct(row['rate'])} |")
    if result["images_not_processed"]:
        lines.append(f"\nnot processed (counted as unprotected): {len(result['images_not_processed'])}")
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"

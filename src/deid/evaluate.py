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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deid.anonymize.base import region_mask
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
    # Text boxes (K x 4) and whether each identifies someone (K), when the set has text.
    texts: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    identifying: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", np.asarray(self.faces, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "ignore", np.asarray(self.ignore, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "texts", np.asarray(self.texts, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "identifying", np.asarray(self.identifying, dtype=bool).reshape(-1))


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
            texts = entry.get("texts", [])
            truth[path.relative_to(images_root).as_posix()] = GroundTruth(
                entry.get("faces", []), entry.get("ignore", []),
                [t["box"] for t in texts], [bool(t["identifying"]) for t in texts],
            )
    if not truth:
        raise UsageError(f"no image of {gt_json} lies inside {images_dir}")
    return truth


def coverage(faces: np.ndarray, regions: np.ndarray, shape: str, width: int, height: int) -> np.ndarray:
    """Fraction of each face box (N x 4) covered by the union of regions (M x 4)."""
    return covered_fractions(faces, covered_mask(regions, shape, width, height))


def covered_mask(regions: np.ndarray, shape: str, width: int, height: int) -> np.ndarray:
    """The pixels the union of regions (M x 4, drawn as ``shape``) replaces: H x W bool."""
    covered = np.zeros((height, width), dtype=bool)
    outer = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    for region, window in zip(outer, clip_boxes(np.round(outer), width, height).astype(np.int64)):
        x1, y1, x2, y2 = window
        if x2 > x1 and y2 > y1:
            covered[y1:y2, x1:x2] |= region_mask(shape, region, (x1, y1, x2, y2))
    return covered


def covered_fractions(faces: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Fraction of each box (N x 4) inside the ``covered`` pixels."""
    height, width = covered.shape
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
    wall = summary.wall_time_s
    # Every file of the folder went through the pipeline, with ground truth or not.
    processed = summary.counts.ok + summary.counts.failed
    result["files_processed"] = processed
    result["images_per_s"] = round(processed / wall, 2) if wall else None
    result["wall_time_s"] = wall
    result["config"] = config.to_dict()
    return result


def score_records(truth: dict[str, GroundTruth], records: list[dict[str, Any]], shape: str) -> dict[str, Any]:
    """Protected rate of the ground-truth faces given a run's report records, with every
    face that was not protected (``missed``: image, box, the fraction covered)."""
    by_source = {r["source"]: r for r in records}
    heights, protected, false_regions, missing, missed = [], [], 0, [], []
    text_heights, text_covered, text_by_text, text_identifying, text_false = [], [], [], [], 0
    for source, gt in truth.items():
        record = by_source.get(source)
        boxes = gt.faces
        heights += list(boxes[:, 3] - boxes[:, 1])
        text_heights += list(gt.texts[:, 3] - gt.texts[:, 1])
        text_identifying += list(gt.identifying)
        if record is None or record["status"] != OK:
            missing.append(source)
            fractions = np.zeros(len(boxes))
            text_fractions = np.zeros(len(gt.texts))
            by_text_stage = np.zeros(len(gt.texts))
        else:
            regions = np.asarray([f["region"] for f in record["faces"]], dtype=np.float64).reshape(-1, 4)
            text_regions = np.asarray([t["region"] for t in record.get("texts") or []], dtype=np.float64).reshape(-1, 4)
            # Every replaced pixel counts, whichever stage replaced it.
            by_text = covered_mask(text_regions, "box", record["width"], record["height"])
            covered = covered_mask(regions, shape, record["width"], record["height"]) | by_text
            fractions = covered_fractions(boxes, covered)
            text_fractions = covered_fractions(gt.texts, covered)
            by_text_stage = covered_fractions(gt.texts, by_text)
            labelled = np.concatenate([boxes, gt.ignore, gt.texts])
            false_regions += int(sum(1 for r in regions if not _overlaps_any(r, labelled)))
            text_false += int(sum(1 for r in text_regions if not _overlaps_any(r, labelled)))
        text_covered += list(text_fractions)
        text_by_text += list(by_text_stage)
        protected += list(fractions >= PROTECTED_COVERAGE)
        missed += [
            {"image": source, "box": [round(float(v), 1) for v in box], "covered": round(float(f), 3)}
            for box, f in zip(boxes, fractions) if f < PROTECTED_COVERAGE
        ]
    result = rates_by_height(np.asarray(heights), np.asarray(protected, dtype=bool))
    result.update(images=len(truth), images_not_processed=missing, false_regions=false_regions,
                  ignored_faces=int(sum(len(gt.ignore) for gt in truth.values())), missed=missed)
    if text_heights:
        result["text"] = text_rates(
            np.asarray(text_heights), np.asarray(text_covered), np.asarray(text_by_text), np.asarray(text_identifying, dtype=bool),
        )
        result["text"]["false_regions"] = text_false
    return result


# Text at least this tall (px) is what a person reads in a photo; the text targets are
# stated for it.
READABLE_TEXT_HEIGHT = 12
# Text counts as left alone when at most this share of its box is covered: most of it is
# still readable (a region grown from a neighbouring string may clip its edge).
LEFT_ALONE_COVERAGE = 0.2


def text_rates(
    heights: np.ndarray, fractions: np.ndarray, by_text_stage: np.ndarray, identifying: np.ndarray,
) -> dict[str, Any]:
    """Covered and left-alone rates of the text boxes. ``fractions`` counts every replaced
    pixel; ``by_text_stage`` only the text regions: the face detectors also cover text
    they take for a face (a sign's plate), whatever the text policy."""
    tall = heights >= READABLE_TEXT_HEIGHT
    covered = fractions >= PROTECTED_COVERAGE

    def rate(selected: np.ndarray, hit: np.ndarray) -> float | None:
        return round(float(hit[selected].mean()), 4) if selected.any() else None

    return {
        "regions": int(len(heights)),
        "regions_12px_and_up": int(tall.sum()),
        "covered_rate_12px_and_up": rate(tall, covered),
        "identifying_12px_and_up": int((tall & identifying).sum()),
        "identifying_covered_rate_12px_and_up": rate(tall & identifying, covered),
        "other_12px_and_up": int((tall & ~identifying).sum()),
        "other_left_alone_rate_12px_and_up": rate(tall & ~identifying, fractions <= LEFT_ALONE_COVERAGE),
        "other_left_alone_by_text_stage_12px_and_up": rate(tall & ~identifying, by_text_stage <= LEFT_ALONE_COVERAGE),
    }


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
    text = result.get("text")
    if text:
        lines += [
            "",
            f"text >= {READABLE_TEXT_HEIGHT} px: {text['regions_12px_and_up']} regions, covered "
            f"{_pct(text['covered_rate_12px_and_up'])}; identifying: {text['identifying_12px_and_up']}, covered "
            f"{_pct(text['identifying_covered_rate_12px_and_up'])}; other: {text['other_12px_and_up']}, left alone "
            f"by the text stage {_pct(text['other_left_alone_by_text_stage_12px_and_up'])} (by every stage, "
            f"face regions included: {_pct(text['other_left_alone_rate_12px_and_up'])}); false text regions: "
            f"{text['false_regions']}",
        ]
    if result["images_not_processed"]:
        lines.append(f"\nnot processed (counted as unprotected): {len(result['images_not_processed'])}")
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"

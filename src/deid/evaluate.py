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

import dataclasses
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
# Text at least this tall (px) is what a person reads in a photo; the text targets are
# stated for it.
READABLE_TEXT_HEIGHT = 12
# Text counts as left alone when at most this share of its box is covered: most of it is
# still readable (a region grown from a neighbouring string may clip its edge).
LEFT_ALONE_COVERAGE = 0.2


def bin_label(low: int, high: int | None) -> str:
    if low == 0:
        return f"<{high}"
    return f">={low}" if high is None else f"{low}-{high}"


@dataclass(frozen=True)
class HeightBand:
    """The ground-truth faces of one height bin and how many of them were protected."""

    faces: int
    protected: int
    rate: float | None  # None when the bin has no face

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Protection:
    """How many ground-truth faces were protected: overall, for the faces a person can
    recognise, and by height bin."""

    faces: int
    protected: int
    protected_rate: float | None  # None when there is no face
    recognisable_rate: float | None  # of the faces at least RECOGNISABLE_HEIGHT tall
    by_height: dict[str, HeightBand]  # bin_label -> band, in HEIGHT_BINS order

    def to_json(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "protected": self.protected,
            "protected_rate": self.protected_rate,
            f"protected_rate_{RECOGNISABLE_HEIGHT}px_and_up": self.recognisable_rate,
            "by_height": {label: band.to_json() for label, band in self.by_height.items()},
        }


@dataclass(frozen=True)
class TextRates:
    """How the labelled text boxes fared. Every count and rate but ``regions`` and
    ``false_regions`` is of the readable text, at least READABLE_TEXT_HEIGHT tall; a rate
    is None when it is of no box."""

    regions: int
    readable_regions: int
    covered_rate: float | None
    identifying_regions: int
    identifying_covered_rate: float | None
    other_regions: int
    other_left_alone_rate: float | None  # by every replaced pixel, face regions included
    other_left_alone_by_text_stage: float | None  # by the text regions alone
    false_regions: int = 0  # text regions that overlap no labelled box

    def to_json(self) -> dict[str, Any]:
        readable = f"{READABLE_TEXT_HEIGHT}px_and_up"
        return {
            "regions": self.regions,
            f"regions_{readable}": self.readable_regions,
            f"covered_rate_{readable}": self.covered_rate,
            f"identifying_{readable}": self.identifying_regions,
            f"identifying_covered_rate_{readable}": self.identifying_covered_rate,
            f"other_{readable}": self.other_regions,
            f"other_left_alone_rate_{readable}": self.other_left_alone_rate,
            f"other_left_alone_by_text_stage_{readable}": self.other_left_alone_by_text_stage,
            "false_regions": self.false_regions,
        }


@dataclass(frozen=True)
class MissedFace:
    """A ground-truth face that was not protected."""

    image: str  # relative to the images folder
    box: list[float]  # x1, y1, x2, y2
    covered: float  # the share of the box the anonymized regions cover

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalResult:
    """A scored run: ``deid eval --out`` writes its ``to_json()``. ``score_records`` leaves
    the run's own fields (files processed, speed, config) at their defaults; ``evaluate``
    fills them."""

    protection: Protection
    images: int  # with ground truth
    images_not_processed: list[str]  # their faces count as unprotected
    false_regions: int  # face regions that overlap no labelled box
    ignored_faces: int  # marked invalid by the annotators: counted neither way
    missed: list[MissedFace]
    text: TextRates | None = None  # None when the ground truth has no text
    files_processed: int = 0  # every file of the folder, with ground truth or not
    images_per_s: float | None = None  # None when the run took no measurable time
    wall_time_s: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)  # the run's Config.to_dict()

    def to_json(self) -> dict[str, Any]:
        data = self.protection.to_json()
        data.update(
            images=self.images,
            images_not_processed=list(self.images_not_processed),
            false_regions=self.false_regions,
            ignored_faces=self.ignored_faces,
            missed=[face.to_json() for face in self.missed],
        )
        if self.text is not None:
            data["text"] = self.text.to_json()
        data.update(
            files_processed=self.files_processed,
            images_per_s=self.images_per_s,
            wall_time_s=self.wall_time_s,
            config=self.config,
        )
        return data


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


def evaluate(images_dir: str | Path, gt_json: str | Path, config: Config | None = None) -> EvalResult:
    config = config or Config()
    truth = load_ground_truth(Path(images_dir), Path(gt_json))
    with tempfile.TemporaryDirectory(prefix="deid-eval-") as tmp:
        summary = run(images_dir, Path(tmp) / "out", config=config, report_dir=Path(tmp) / "report")
        records = read_records(Path(tmp) / "report")
    wall = summary.wall_time_s
    # Every file of the folder went through the pipeline, with ground truth or not.
    processed = summary.counts.ok + summary.counts.failed
    return dataclasses.replace(
        score_records(truth, records, config.anonymize.shape),
        files_processed=processed,
        images_per_s=round(processed / wall, 2) if wall else None,
        wall_time_s=wall,
        config=config.to_dict(),
    )


def score_records(truth: dict[str, GroundTruth], records: list[dict[str, Any]], shape: str) -> EvalResult:
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
            MissedFace(source, [round(float(v), 1) for v in box], round(float(f), 3))
            for box, f in zip(boxes, fractions) if f < PROTECTED_COVERAGE
        ]
    text = None
    if text_heights:
        text = text_rates(
            np.asarray(text_heights), np.asarray(text_covered), np.asarray(text_by_text),
            np.asarray(text_identifying, dtype=bool), false_regions=text_false,
        )
    return EvalResult(
        protection=rates_by_height(np.asarray(heights), np.asarray(protected, dtype=bool)),
        images=len(truth),
        images_not_processed=missing,
        false_regions=false_regions,
        ignored_faces=int(sum(len(gt.ignore) for gt in truth.values())),
        missed=missed,
        text=text,
    )


def text_rates(
    heights: np.ndarray, fractions: np.ndarray, by_text_stage: np.ndarray, identifying: np.ndarray,
    false_regions: int = 0,
) -> TextRates:
    """Covered and left-alone rates of the text boxes. ``fractions`` counts every replaced
    pixel; ``by_text_stage`` only the text regions: the face detectors also cover text
    they take for a face (a sign's plate), whatever the text policy."""
    tall = heights >= READABLE_TEXT_HEIGHT
    covered = fractions >= PROTECTED_COVERAGE

    def rate(selected: np.ndarray, hit: np.ndarray) -> float | None:
        return round(float(hit[selected].mean()), 4) if selected.any() else None

    return TextRates(
        regions=int(len(heights)),
        readable_regions=int(tall.sum()),
        covered_rate=rate(tall, covered),
        identifying_regions=int((tall & identifying).sum()),
        identifying_covered_rate=rate(tall & identifying, covered),
        other_regions=int((tall & ~identifying).sum()),
        other_left_alone_rate=rate(tall & ~identifying, fractions <= LEFT_ALONE_COVERAGE),
        other_left_alone_by_text_stage=rate(tall & ~identifying, by_text_stage <= LEFT_ALONE_COVERAGE),
        false_regions=false_regions,
    )


def rates_by_height(heights: np.ndarray, protected: np.ndarray) -> Protection:
    by_height = {}
    for low, high in HEIGHT_BINS:
        in_bin = (heights >= low) & ((heights < high) if high is not None else True)
        n = int(in_bin.sum())
        by_height[bin_label(low, high)] = HeightBand(
            faces=n,
            protected=int(protected[in_bin].sum()),
            rate=round(float(protected[in_bin].mean()), 4) if n else None,
        )
    tall = heights >= RECOGNISABLE_HEIGHT
    return Protection(
        faces=len(protected),
        protected=int(protected.sum()),
        protected_rate=round(float(protected.mean()), 4) if len(protected) else None,
        recognisable_rate=round(float(protected[tall].mean()), 4) if tall.any() else None,
        by_height=by_height,
    )


def _overlaps_any(region: np.ndarray, boxes: np.ndarray) -> bool:
    if not len(boxes):
        return False
    inter_w = np.minimum(region[2], boxes[:, 2]) - np.maximum(region[0], boxes[:, 0])
    inter_h = np.minimum(region[3], boxes[:, 3]) - np.maximum(region[1], boxes[:, 1])
    return bool(np.any((inter_w > 0) & (inter_h > 0)))


def format_table(result: EvalResult) -> str:
    protection = result.protection
    lines = [
        f"images: {result.images}  faces: {protection.faces}"
        + (f" (+{result.ignored_faces} ignored)" if result.ignored_faces else "")
        + f"  protected: {protection.protected} "
        f"({_pct(protection.protected_rate)})  false regions: {result.false_regions}  "
        f"images/s: {result.images_per_s}",
        f"faces >= {RECOGNISABLE_HEIGHT} px: {_pct(protection.recognisable_rate)}",
        "",
        "| face height (px) | faces | protected | rate |",
        "|---|---:|---:|---:|",
    ]
    for label, band in protection.by_height.items():
        lines.append(f"| {label} | {band.faces} | {band.protected} | {_pct(band.rate)} |")
    text = result.text
    if text is not None:
        lines += [
            "",
            f"text >= {READABLE_TEXT_HEIGHT} px: {text.readable_regions} regions, covered "
            f"{_pct(text.covered_rate)}; identifying: {text.identifying_regions}, covered "
            f"{_pct(text.identifying_covered_rate)}; other: {text.other_regions}, left alone "
            f"by the text stage {_pct(text.other_left_alone_by_text_stage)} (by every stage, "
            f"face regions included: {_pct(text.other_left_alone_rate)}); false text regions: "
            f"{text.false_regions}",
        ]
    if result.images_not_processed:
        lines.append(f"\nnot processed (counted as unprotected): {len(result.images_not_processed)}")
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"

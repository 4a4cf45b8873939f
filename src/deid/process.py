"""One image file through every stage: read -> decode -> detect -> anonymize -> encode
(which strips metadata) -> write. Whatever goes wrong, the file is reported as failed and
nothing is written for it: a partly processed image must never reach OUT."""

from __future__ import annotations

import dataclasses
import errno
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deid.anonymize import build_anonymizer
from deid.boxes import Detections, box_areas, clip_boxes
from deid.config import Config, OutputConfig
from deid.decode import decode
from deid.detect.ensemble import FaceDetector
from deid.discover import SourceFile, read_regular_file
from deid.consent import ConsentList
from deid.encode import encode
from deid.corrections import FileCorrections, FrameCorrections, apply_corrections
from deid.engine import Job
from deid.errors import DecodeError, ImageError, ReviewNeeded
from deid.journal import Stamp, file_stamp, sha256_bytes
from deid.output import set_temp_identity, write_atomic
from deid.report import FAILED, OK, FaceRecord, ImageRecord, TextRecord, frame_sizes

# A write that fails for lack of space fails every later file too; the message says how
# to go on once there is room.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
# An uncompressed 16-bit RGBA pixel takes 8 bytes; a larger file cannot hold an image within
# the pixel limit, and reading it whole would cost its size in memory.
MAX_BYTES_PER_PIXEL = 8


class Stages:
    """The stateful stages of one process, built once: detector models load here."""

    def __init__(self, config: Config, threads: int = 0, consent: ConsentList | None = None) -> None:
        self.config = config
        self.detector = FaceDetector(config.detect, config.device, threads)
        self.consent = None
        if consent is not None:
            from deid.consent import ConsentMatcher

            self.consent = ConsentMatcher(consent)
        self.anonymizer = build_anonymizer(config.anonymize)
        self.text_detector = None
        self.text_anonymizer = None
        if config.text.policy != "off":
            from deid.detect.text import TextDetector

            self.text_detector = TextDetector(config.text.policy, config.device, threads)
            # Text is covered in the same mode, grown by its own margin only.
            self.text_anonymizer = build_anonymizer(dataclasses.replace(
                config.anonymize, shape="box", margin=0.0, margin_low_score=0.0, margin_small_face=0.0,
            ))

    def runtime(self) -> dict[str, Any]:
        """What ran: models with versions, devices, and why a requested device was not used."""
        models = self.detector.model_info()
        if self.text_detector is not None:
            models = [*models, self.text_detector.model_info()]
        return {
            "models": models,
            "devices": self.detector.devices,
            "notes": self.detector.notes,
        }


@functools.lru_cache(maxsize=4)
def cached_stages(config: Config, threads: int = 0, consent: ConsentList | None = None) -> Stages:
    return Stages(config, threads, consent)


@dataclass(frozen=True)
class WorkItem:
    source: SourceFile
    output: str  # path relative to OUT
    # Seeds the noise of the modes that draw it, so that the file comes out the same
    # whenever this run (or its resumption) processes it; None draws fresh noise.
    seed: int | None = None
    # The file's place in discovery order: where its record goes in the report.
    index: int = -1
    corrections: FileCorrections | None = None  # a reviewer's, to apply


@dataclass(frozen=True)
class FileResult:
    record: ImageRecord
    input_sha256: str | None  # None when the file could not be read
    output_sha256: str | None  # None when nothing was written
    input_stamp: Stamp | None = None  # the input's stamp before it was read (deid.journal)
    output_stamp: Stamp | None = None  # the output's stamp once written
    index: int = -1  # the work item's


@dataclass(frozen=True)
class Covered:
    """One frame through detect and anonymize."""

    faces: Detections
    regions: np.ndarray  # N x 4 integer xyxy of the pixels replaced for each face
    pixels: np.ndarray
    texts: Detections | None = None  # kind TEXT; None when text detection is off
    text_regions: np.ndarray | None = None
    # A reviewer's, applied (deid.corrections), and faces kept by consent (deid.consent).
    decisions: tuple[dict[str, Any], ...] = ()


# Inference threads per worker: a worker is one core, so --workers N uses N cores and no
# more, whatever else runs on the machine. (One worker on two inference threads did about
# 90% of what two single-threaded workers do; with N workers, threads would only
# oversubscribe the cores.)
THREADS_PER_WORKER = 1


@dataclass(frozen=True)
class FileJob(Job[WorkItem, FileResult]):
    """A run's per-file work, as the engines run it: ``process_file`` into ``out_dir``,
    temporary files named for the run ``run`` (deid.runlock)."""

    config: Config
    out_dir: Path
    run: str = ""
    consent: ConsentList | None = None  # participants whose faces stay visible (deid.consent)

    # Files per task. Handing a task to a worker and its result back goes through the main
    # process's queue threads; one file a task, on photos that take 10 ms each, left the
    # workers idle a fifth of the time (two workers did 1.43x the work of one with the fast
    # preset, where two separate single-worker runs side by side do 1.88x). Four files a
    # task make the hand-off rare; a task whose worker dies is still retried file by file.
    items_per_task = 4

    def start(self) -> FileRunner:
        if self.run:
            set_temp_identity(self.run)
        return FileRunner(cached_stages(self.config, THREADS_PER_WORKER, self.consent), self.out_dir)

    def failed(self, item: WorkItem, reason: str) -> FileResult:
        return failed_result(item.source, reason, item.index)


@dataclass(frozen=True)
class FileRunner:
    stages: Stages
    out_dir: Path

    def __call__(self, item: WorkItem) -> FileResult:
        return process_file(item, self.out_dir, self.stages)

    def runtime(self) -> dict[str, Any]:
        return self.stages.runtime()


def anonymize_pixels(
    pixels: np.ndarray, stages: Stages, rng: np.random.Generator | None = None,
    corrections: FrameCorrections | None = None, frame: int = 0,
) -> Covered:
    height, width = pixels.shape[:2]
    faces, decisions = apply_corrections(stages.detector.detect(pixels), corrections)
    if stages.consent is not None:
        faces, consented = stages.consent.split(pixels, faces, frame)
        decisions += consented
    regions = stages.anonymizer.regions(faces, width, height)
    out = stages.anonymizer.anonymize(pixels, faces, rng)
    if stages.text_detector is None:
        return Covered(faces, regions, out, decisions=tuple(decisions))
    # Text is found in the original pixels: a covered face's edge must not hide a badge.
    texts, text_decisions = apply_corrections(stages.text_detector.detect(pixels), corrections, add=False)
    for decision, on_text in zip(decisions, text_decisions):  # the drop and keep boxes come first, in order
        decision["matched"] += on_text["matched"]
    # A line of text is wide: its margin is a share of its height on every side, so that a
    # long string's region does not reach over its neighbours.
    grow = stages.config.text.margin * (texts.xyxy[:, 3] - texts.xyxy[:, 1])
    grown = texts.with_boxes(texts.xyxy + np.stack([-grow, -grow, grow, grow], axis=1))
    text_regions = stages.text_anonymizer.regions(grown, width, height)
    out = stages.text_anonymizer.anonymize(out, grown, rng)
    return Covered(faces, regions, out, texts, text_regions, tuple(decisions))


def read_image_bytes(source: SourceFile, output_config: OutputConfig) -> bytes:
    """The bytes of ``source``, refused unread when there are more of them than any image
    within the pixel limit could take."""
    size = source.path.stat().st_size
    if size > output_config.max_pixels * MAX_BYTES_PER_PIXEL:
        raise DecodeError(
            f"{size / 1e6:.0f} MB is more than any image within the limit of "
            f"{output_config.max_pixels / 1e6:.0f} MP could take; raise output.max_pixels "
            "in the config if the image is genuine"
        )
    return read_regular_file(source.path)


def decode_failure(source: SourceFile, output_config: OutputConfig) -> str | None:
    """Why processing ``source`` would fail before detection (it cannot be read, or not
    decoded whole by the run's decoder), or None; every pixel is decoded, then dropped."""
    try:
        decode(read_image_bytes(source, output_config), output_config.max_pixels)
    except Exception as exc:  # as process_file: whatever broke, the run fails the file
        return failure_reason(exc)
    return None


def failure_reason(exc: Exception) -> str:
    """The one-line reason reported for a file whose processing raised ``exc``."""
    if isinstance(exc, ImageError):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.errno in _DISK_FULL:
            return "no space left on the output disk; free space and rerun with --resume"
        return f"I/O error: {exc.strerror or exc}"
    if isinstance(exc, MemoryError):
        return "out of memory while processing it; run with fewer --workers"
    return f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"


def process_file(item: WorkItem, out_dir: Path, stages: Stages) -> FileResult:
    source, output = item.source, item.output
    output_config = stages.config.output
    input_sha256 = None
    try:
        # Before reading: a file changed while it is read then differs from its stamp.
        input_stamp = file_stamp(source.path)
        data = read_image_bytes(source, output_config)
        input_sha256 = sha256_bytes(data)
        decoded = decode(data, output_config.max_pixels)
        del data  # the compressed bytes are not needed beside the pixels
        frames, faces_per_frame = decoded.frames, []
        for index, pixels in enumerate(frames):
            rng = None if item.seed is None else np.random.default_rng([item.seed, index])
            corrections = None if item.corrections is None else item.corrections.for_frame(index)
            covered = anonymize_pixels(pixels, stages, rng, corrections, index)
            # The covered pixels replace the original in the list: the original is not
            # needed again, and a full-size photo is not held twice while it is encoded.
            frames[index] = covered.pixels
            del pixels
            faces_per_frame.append(covered)
        if item.corrections is None and stages.config.review.large_region == "refuse":
            refuse_large_regions(faces_per_frame, frames, stages.config.review.max_region)
        # Written in the format the discover stage saw (the output name was planned from
        # it); Pillow calls a JPEG with extra pictures "MPO", which is the same writer.
        encoded = encode(frames, source.format or decoded.format, output_config, decoded.animation, decoded.dpi)
        write_atomic(out_dir / output, encoded)
        output_stamp = file_stamp(out_dir / output)
    except ReviewNeeded as exc:
        record = ImageRecord(
            source=source.relative, output=None, status=FAILED, error=str(exc), width=exc.width,
            height=exc.height, frames=exc.frames, faces=exc.faces, frame_sizes=exc.frame_sizes,
        )
        return FileResult(record, input_sha256, None, index=item.index)
    except Exception as exc:  # fail closed: whatever broke, this file is not written
        return _failed(source, failure_reason(exc), input_sha256, item.index)
    height, width = frames[0].shape[:2]
    record = ImageRecord(
        source=source.relative,
        output=output,
        status=OK,
        width=width,
        height=height,
        frames=len(frames),
        faces=[
            face
            for index, covered in enumerate(faces_per_frame)
            for face in _face_records(covered.faces, covered.regions, frames[index].shape, index)
        ],
        texts=None if stages.text_detector is None else [
            text
            for index, covered in enumerate(faces_per_frame)
            for text in _text_records(covered.texts, covered.text_regions, frames[index].shape, index)
        ],
        metadata_found=decoded.metadata_found,
        decisions=_decisions(faces_per_frame, item.corrections is not None),
        frame_sizes=frame_sizes([frame.shape for frame in frames]),
    )
    return FileResult(record, input_sha256, sha256_bytes(encoded), input_stamp, output_stamp, item.index)


def _decisions(covered: list[Covered], corrected: bool) -> list[dict[str, Any]] | None:
    """The decisions applied to a file; None (absent from its record) when nobody corrected
    it and no face was kept by consent."""
    decisions = [d for frame in covered for d in frame.decisions]
    return decisions if decisions or corrected else None


def refuse_large_regions(covered: list[Covered], frames: list[np.ndarray], max_region: float) -> None:
    """ReviewNeeded when a detector's box covers more than ``max_region`` of its frame."""
    for index, (frame, found) in enumerate(zip(frames, covered)):
        height, width = frame.shape[:2]
        shares = box_areas(clip_boxes(found.faces.xyxy, width, height)) / (width * height)
        if len(shares) and shares.max() > max_region:
            records = [
                face for number, done in enumerate(covered)
                for face in _face_records(done.faces, done.regions, frames[number].shape, number)
            ]
            where = f" of frame {index}" if len(frames) > 1 else ""
            raise ReviewNeeded(
                f"a box covers {shares.max():.0%} of the image{where}, more than review.max_region "
                f"({max_region:.0%}) trusts without a look; review it (deid review) and apply the "
                "corrections with --resume --corrections",
                records, frames[0].shape[1], frames[0].shape[0], len(frames),
                frame_sizes([frame.shape for frame in frames]),
            )


def _face_records(faces: Detections, regions: np.ndarray, shape: tuple[int, ...], frame: int) -> list[FaceRecord]:
    boxes = clip_boxes(faces.xyxy, shape[1], shape[0])
    return [
        FaceRecord(
            box=[round(float(v), 1) for v in box],
            region=[int(v) for v in region],
            score=round(float(score), 4),
            detector=str(name),
            frame=frame,
            kind=str(kind),
            seen_by=int(seen_by),
        )
        for box, region, score, name, kind, seen_by in zip(
            boxes, regions, faces.scores, faces.detectors, faces.kinds, faces.seen_by,
        )
    ]


def _text_records(texts: Detections, regions: np.ndarray, shape: tuple[int, ...], frame: int) -> list[TextRecord]:
    boxes = clip_boxes(texts.xyxy, shape[1], shape[0])
    return [
        TextRecord(
            box=[round(float(v), 1) for v in box], region=[int(v) for v in region],
            score=round(float(score), 4), detector=str(name), rule=str(rule), frame=frame,
        )
        for box, region, score, name, rule in zip(boxes, regions, texts.scores, texts.detectors, texts.rules)
    ]


def failed_result(source: SourceFile, reason: str, index: int = -1) -> FileResult:
    return _failed(source, reason, None, index)


def _failed(source: SourceFile, reason: str, input_sha256: str | None, index: int) -> FileResult:
    record = ImageRecord(source=source.relative, output=None, status=FAILED, error=reason)
    return FileResult(record, input_sha256, None, index=index)

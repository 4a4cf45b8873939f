"""Wires the stages: discover -> decode -> detect -> anonymize -> strip metadata ->
encode -> write -> report. Each stage lives in its own module; nothing here touches
pixels or bytes itself."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
from PIL import Image

from deid.anonymize import build_anonymizer
from deid.boxes import FaceBoxes, clip_boxes
from deid.config import Config, OutputConfig
from deid.decode import decode, to_srgb_pixels
from deid.detect.ensemble import FaceDetector
from deid.discover import FAIL, IMAGE, SourceFile, discover
from deid.encode import encode, output_suffix
from deid.errors import DeidError, ImageError, UsageError
from deid.metadata import find_metadata
from deid.names import OutputNamer, load_or_create_key
from deid.output import write_atomic
from deid.report import FAILED, OK, SKIPPED, FaceRecord, ImageRecord, ReportWriter

Progress = Callable[[int, int, ImageRecord], None]


class Stages:
    """The stateful stages of one process, built once: detector models load here."""

    def __init__(self, config: Config, threads: int = 0) -> None:
        self.config = config
        self.detector = FaceDetector(config.detect, config.device, threads)
        self.anonymizer = build_anonymizer(config.anonymize)

    def runtime(self) -> dict[str, Any]:
        """What ran: models with versions, devices, and why a requested device was not used."""
        return {
            "models": self.detector.model_info(),
            "devices": self.detector.devices,
            "notes": self.detector.notes,
        }


@functools.lru_cache(maxsize=4)
def _cached_stages(config: Config) -> Stages:
    return Stages(config)


@dataclass(frozen=True)
class AnonymizedImage:
    pixels: np.ndarray  # anonymized, upright, sRGB, uint8
    faces: FaceBoxes  # detections in ``pixels`` coordinates
    regions: np.ndarray  # N x 4 integer xyxy of the replaced pixels
    metadata_found: list[str]  # categories the input carried (none for an array)


def anonymize_image(image: Image.Image | np.ndarray, config: Config | None = None) -> AnonymizedImage:
    """Anonymize the faces of one image in memory. Models are loaded on the first call and
    reused by later calls with the same config."""
    stages = _cached_stages(config or Config())
    if isinstance(image, Image.Image):
        found = find_metadata(image)
        pixels = to_srgb_pixels(image)
    else:
        found = []
        pixels = np.asarray(image)
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
            raise ValueError(f"expected a uint8 H x W or H x W x C array, got {pixels.dtype} {pixels.shape}")
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    faces, regions, out = _anonymize_pixels(pixels, stages)
    return AnonymizedImage(out, faces, regions, found)


def _anonymize_pixels(pixels: np.ndarray, stages: Stages) -> tuple[FaceBoxes, np.ndarray, np.ndarray]:
    height, width = pixels.shape[:2]
    faces = stages.detector.detect(pixels)
    regions = stages.anonymizer.regions(faces, width, height)
    return faces, regions, stages.anonymizer.anonymize(pixels, faces)


@dataclass(frozen=True)
class WorkItem:
    source: SourceFile
    output: str  # path relative to OUT


def process_file(item: WorkItem, out_dir: Path, stages: Stages) -> ImageRecord:
    """Run one image through every stage. Any failure marks the file failed and nothing
    is written for it: a partly processed image must never reach OUT."""
    source, output = item.source, item.output
    output_config = stages.config.output
    try:
        data = source.path.read_bytes()
        decoded = decode(data, output_config.max_pixels)
        frames, faces_per_frame = [], []
        for pixels in decoded.frames:
            faces, regions, anonymized = _anonymize_pixels(pixels, stages)
            frames.append(anonymized)
            faces_per_frame.append((faces, regions))
        # Written in the format the discover stage saw (the output name was planned from
        # it); Pillow calls a JPEG with extra pictures "MPO", which is the same writer.
        encoded = encode(frames, source.format or decoded.format, output_config, decoded.animation, decoded.dpi)
        write_atomic(out_dir / output, encoded)
    except ImageError as exc:
        return _failed(source, str(exc))
    except OSError as exc:
        return _failed(source, f"I/O error: {exc.strerror or exc}")
    except Exception as exc:  # fail closed: whatever broke, this file is not written
        return _failed(source, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    height, width = frames[0].shape[:2]
    return ImageRecord(
        source=source.relative,
        output=output,
        status=OK,
        width=width,
        height=height,
        frames=len(frames),
        faces=[
            face
            for index, (faces, regions) in enumerate(faces_per_frame)
            for face in _face_records(faces, regions, frames[index].shape, index)
        ],
        metadata_found=decoded.metadata_found,
    )


def _face_records(faces: FaceBoxes, regions: np.ndarray, shape: tuple[int, ...], frame: int) -> list[FaceRecord]:
    boxes = clip_boxes(faces.xyxy, shape[1], shape[0])
    return [
        FaceRecord(
            box=[round(float(v), 1) for v in box],
            region=[int(v) for v in region],
            score=round(float(score), 4),
            detector=str(name),
            frame=frame,
        )
        for box, region, score, name in zip(boxes, regions, faces.scores, faces.detectors)
    ]


def _failed(source: SourceFile, reason: str) -> ImageRecord:
    return ImageRecord(source=source.relative, output=None, status=FAILED, error=reason)


@dataclass(frozen=True)
class RunSummary:
    out_dir: Path
    report_dir: Path
    counts: dict[str, int]
    warnings: list[str]
    details: dict[str, Any]

    @property
    def exit_code(self) -> int:
        """0 when every image was processed, 1 when any failed."""
        return 1 if self.counts.get(FAILED, 0) else 0


def default_report_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".report")


def run(
    src: str | Path,
    out: str | Path,
    config: Config | None = None,
    report_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Write a sanitized copy of the image tree ``src`` into ``out`` and a report into
    ``report_dir`` (default ``<out>.report`` beside ``out``)."""
    config = config or Config()
    started = time.monotonic()
    src_dir, out_dir = Path(src), Path(out)
    report = Path(report_dir) if report_dir is not None else default_report_dir(out_dir)
    check_paths(src_dir, out_dir, report, overwrite)
    sources = list(discover(src_dir))
    images = [s for s in sources if s.kind == IMAGE]
    report.mkdir(parents=True, exist_ok=True)
    items, clashes = plan_outputs(images, config.output, report)
    workers = min(config.workers or os.cpu_count() or 1, max(len(images), 1))

    writer = ReportWriter(report)
    records: list[ImageRecord] = []
    try:
        def record(rec: ImageRecord) -> None:
            records.append(rec)
            writer.add(rec)
            if progress:
                progress(len(records), len(sources), rec)

        for source in sources:
            if source.kind != IMAGE:
                status = FAILED if source.kind == FAIL else SKIPPED
                record(ImageRecord(source.relative, None, status, error=source.reason))
        for rec in clashes:
            record(rec)
        out_dir.mkdir(parents=True, exist_ok=True)
        runtime = _process_images(items, out_dir, config, workers, record)
        summary = _summarise(records, config, runtime, workers, time.monotonic() - started)
        summary["source_dir"] = str(src_dir)
        summary["output_dir"] = str(out_dir)
        writer.finish(summary)
    finally:
        writer.close()
    return RunSummary(out_dir, report, summary["counts"], summary["warnings"], summary)


def plan_outputs(
    images: list[SourceFile], config: OutputConfig, report_dir: Path
) -> tuple[list[WorkItem], list[ImageRecord]]:
    """The output path of every image, decided before any is written. Two inputs that
    would land on one name (photo.heic and photo.jpg, converted to JPEG) are not both
    written: the second is reported as failed."""
    key = load_or_create_key(report_dir) if config.rename == "hash" else b""
    namer = OutputNamer(config.rename, key)
    items, clashes, taken = [], [], {}
    for index, source in enumerate(images):
        suffix = output_suffix(PurePosixPath(source.relative).suffix, source.format or "", config)
        output = namer.stem(source.relative, index).as_posix() + suffix
        if output.lower() in taken:
            clashes.append(_failed(source, f"its output name {output} is already taken by {taken[output.lower()]}"))
            continue
        taken[output.lower()] = source.relative
        items.append(WorkItem(source, output))
    return items, clashes


def _process_images(
    images: list[WorkItem], out_dir: Path, config: Config, workers: int,
    record: Callable[[ImageRecord], None],
) -> dict[str, Any]:
    if workers <= 1:
        stages = _cached_stages(config)
        for item in images:
            record(process_file(item, out_dir, stages))
        return stages.runtime()
    try:
        return _process_in_pool(images, out_dir, config, workers, record)
    except BrokenProcessPool as exc:
        raise DeidError(
            f"a worker process died ({exc}); files not yet reported were not written. "
            "Rerun with --workers 1 to see the cause"
        ) from None


def _process_in_pool(
    images: list[WorkItem], out_dir: Path, config: Config, workers: int,
    record: Callable[[ImageRecord], None],
) -> dict[str, Any]:
    # "spawn": a worker must not inherit a parent's half-initialised model runtime.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker,
        # Each worker's runtime gets its share of the cores, not all of them: more threads
        # than cores only adds switching.
        initargs=(config, max(1, (os.cpu_count() or 1) // workers)),
    ) as pool:
        info = pool.submit(_worker_model_info)
        for rec in pool.map(_worker_process, images, [out_dir] * len(images), chunksize=1):
            record(rec)
        return info.result()


_WORKER_STAGES: Stages | None = None


def _init_worker(config: Config, threads: int) -> None:
    global _WORKER_STAGES
    # Native model runtimes log start-up notices straight to file descriptor 2 from their
    # own threads; a worker reports only through its return values, so its stderr is
    # closed off to keep the user's terminal to deid's own output.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _WORKER_STAGES = Stages(config, threads)


def _worker_process(item: WorkItem, out_dir: Path) -> ImageRecord:
    assert _WORKER_STAGES is not None
    return process_file(item, out_dir, _WORKER_STAGES)


def _worker_model_info() -> dict[str, Any]:
    assert _WORKER_STAGES is not None
    return _WORKER_STAGES.runtime()


def check_paths(src: Path, out: Path, report: Path, overwrite: bool) -> None:
    if not src.exists():
        raise UsageError(f"source folder {src} does not exist; give the folder of images to sanitize")
    if not src.is_dir():
        raise UsageError(f"source {src} is not a folder; give the folder that holds the images")
    src_r, out_r, report_r = src.resolve(), out.resolve(), report.resolve()
    if out_r == src_r or out_r.is_relative_to(src_r):
        raise UsageError(f"output {out} is inside the source {src}; choose an output folder outside it")
    if src_r.is_relative_to(out_r):
        raise UsageError(f"source {src} is inside the output {out}; choose an output folder outside it")
    if report_r == out_r or report_r.is_relative_to(out_r):
        raise UsageError(
            f"report folder {report} is inside the output {out}; it names the original files, "
            "so keep it outside the dataset"
        )
    if report_r == src_r or report_r.is_relative_to(src_r):
        raise UsageError(f"report folder {report} is inside the source {src}; put it elsewhere")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise UsageError(f"output folder {out} is not empty; pass --overwrite to replace its files")


def _summarise(
    records: list[ImageRecord], config: Config, runtime: dict[str, Any], workers: int, wall_time: float,
) -> dict[str, Any]:
    status = Counter(r.status for r in records)
    carried = Counter(c for r in records for c in r.metadata_found)
    warnings = list(dict.fromkeys(runtime["notes"]))
    if config.device == "cuda" and "cuda" not in runtime["devices"] and not warnings:
        warnings.append("--device cuda: the configured detectors run on the CPU only")
    ok = [r for r in records if r.status == OK]
    return {
        "counts": {
            "inputs": len(records),
            OK: status[OK],
            FAILED: status[FAILED],
            SKIPPED: status[SKIPPED],
            "faces": sum(len(r.faces) for r in ok),
            "images_with_faces": sum(1 for r in ok if r.faces),
        },
        "files_with_metadata": {c: carried[c] for c in sorted(carried)},
        "failed_files": [{"source": r.source, "error": r.error} for r in records if r.status == FAILED],
        "warnings": warnings,
        "config": config.to_dict(),
        "versions": {
            "deid": _version("deid"),
            "pillow": _version("pillow"),
            "numpy": _version("numpy"),
            "models": runtime["models"],
        },
        "devices": runtime["devices"],
        "workers": workers,
        "wall_time_s": round(wall_time, 3),
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None

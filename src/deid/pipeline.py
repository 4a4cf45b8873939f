"""Wires the stages: discover -> plan output names -> process each image (decode, detect,
anonymize, encode, write; in ``deid.process``, run by an engine of ``deid.engine``) ->
journal -> report. Nothing here touches pixels or bytes itself."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import numpy as np
from PIL import Image

from deid.anonymize import build_anonymizer
from deid.boxes import Detections
from deid.config import Config, OutputConfig
from deid.consent import CONSENT, ConsentList
from deid.corrections import FileCorrections, check_corrections, load_corrections
from deid.decode import to_srgb_pixels
from deid.discover import FAIL, IMAGE, SourceFile, classify, count_files, discover
from deid.encode import output_suffix
from deid.errors import DeidError, UsageError
from deid.html_report import write_html_report
from deid.journal import Journal, JournalEntry, Stamp, config_fingerprint, file_stamp, sha256_file
from deid.keys import keyed_digest, load_or_create_key
from deid.metadata import find_metadata
from deid.names import KEY_FILE, OutputNamer
from deid.output import run_temp_prefix, set_temp_identity
from deid.process import FileJob, FileResult, WorkItem, anonymize_pixels, cached_stages, decode_failure, failed_result
from deid.report import (
    FAILED, IMAGES_FILE, OK, SKIPPED, ImageRecord, RecordSpool, clear_report, frame_size, iter_records, printable_path,
    write_report,
)
from deid.results import Counts, FailedFile, Resumed, RunSummary
from deid.runlock import RunLock, run_id
from deid.engine import build_engine, engine_name, run_job
from deid.engine.local import usable_cores

# (files recorded, files in all or None while not yet known, the latest record)
Progress = Callable[[int, int | None, ImageRecord], None]


@dataclass(frozen=True)
class AnonymizedImage:
    pixels: np.ndarray  # anonymized, upright, sRGB, uint8
    faces: Detections  # detections in ``pixels`` coordinates
    regions: np.ndarray  # N x 4 integer xyxy of the replaced pixels
    metadata_found: list[str]  # categories the input carried (none for an array)


def anonymize_image(image: Image.Image | np.ndarray, config: Config | None = None) -> AnonymizedImage:
    """Anonymize the faces of one image in memory. Models are loaded on the first call and
    reused by later calls with the same config."""
    stages = cached_stages(config or Config())
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
    covered = anonymize_pixels(pixels, stages)
    return AnonymizedImage(covered.pixels, covered.faces, covered.regions, found)


def default_report_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".report")


def run(
    src: str | Path,
    out: str | Path,
    config: Config | None = None,
    report_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    resume: bool = False,
    files: list[str | Path] | None = None,
    rehash: bool = False,
    corrections: str | Path | None = None,
    keep_faces: str | Path | None = None,
) -> RunSummary:
    """Write a sanitized copy of the image tree ``src`` into ``out`` and a report into
    ``report_dir`` (default ``<out>.report`` beside ``out``). ``src`` may be a single
    image file; ``files`` limits the run to these files of ``src``.

    ``resume`` continues an interrupted run into the same ``out`` and report folder: an
    image already done with the same content and config is not processed again. A file
    whose size, modification time and inode are those recorded is trusted unread;
    ``rehash`` reads every input and output to check its content. ``corrections`` (with
    ``resume``, after a finished run) is a reviewer's corrections file (deid.corrections):
    the files it names are processed again with its decisions applied. ``keep_faces`` is a
    folder of photos of participants who agreed to be shown (deid.consent): their faces are
    left visible where the recogniser matches them, and recorded.
    """
    config = config or Config()
    started = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    src_dir, out_dir = Path(src), Path(out)
    report = Path(report_dir) if report_dir is not None else default_report_dir(out_dir)
    sources = list_sources(src_dir, files)
    single_file = src_dir.is_file()
    if single_file:
        src_dir = src_dir.parent
    check_paths(src_dir, out_dir, report, overwrite or resume, single_file=single_file)
    if corrections is not None and not resume:
        raise UsageError("--corrections applies a review to a finished run; use it with --resume")
    reviewed = _reviewed(corrections, report, src_dir) if corrections is not None else {}
    consent = _enrol(keep_faces, config) if keep_faces is not None else None
    if config.engine == "ray":
        from deid.engine.ray_actors import import_ray

        import_ray()  # a missing extra is a usage error before anything is written
    try:
        report.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeidError(f"cannot create the report folder {report}: {exc.strerror or exc}") from None
    total = FileCount(src_dir, sources)
    with RunLock(report):
        return _run_locked(
            src_dir, out_dir, report, sources, total, config, progress, resume, started, started_at, rehash,
            reviewed, consent,
        )


class FileCount:
    """The number of files a run will record, for its progress: known at once for a list;
    for a folder walked as the run goes, counted by a quicker walk of its own (no file
    opened) in a thread, None until that ends."""

    def __init__(self, src_dir: Path, sources: Iterable[SourceFile]) -> None:
        self._count: int | None = len(sources) if isinstance(sources, list) else None
        if self._count is None:
            threading.Thread(target=self._walk, args=(src_dir,), daemon=True, name="deid-count").start()

    def _walk(self, src_dir: Path) -> None:
        self._count = count_files(src_dir)

    def __call__(self) -> int | None:
        return self._count


def _run_locked(
    src_dir: Path, out_dir: Path, report: Path, sources: Iterable[SourceFile], total: Callable[[], int | None],
    config: Config, progress: Progress | None, resume: bool, started: float, started_at: str, rehash: bool = False,
    reviewed: dict[str, FileCorrections] | None = None, consent: ConsentList | None = None,
) -> RunSummary:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        run = run_id(report, resume)
        set_temp_identity(run)
        _remove_partial_files(out_dir, run)
        # Before the report is cleared: a resumed run's journal may point into it.
        journal = Journal(report, resume)
        finished_runtime = _finished_runtime(report) if resume else None
        clear_report(report)
        planner = OutputPlanner(config.output, report, per_folder=not isinstance(sources, list))
        noise_key = load_or_create_key(report, NOISE_KEY_FILE) if build_anonymizer(config.anonymize).draws_noise else None
        spool = RecordSpool(report)
    except OSError as exc:
        raise DeidError(f"cannot prepare {out_dir} and {report}: {exc.strerror or exc}") from None
    # Who is kept visible is part of what a file's output depends on.
    settings = config.to_dict() if consent is None else {**config.to_dict(), "keep_faces": consent.digest()}
    fingerprint = config_fingerprint(settings, _version("deid"))
    tally = spool.tally
    kept, redo_reasons, images, discovered = 0, Counter(), 0, 0

    def record(index: int, rec: ImageRecord) -> None:
        spool.add(index, rec)
        if progress:
            progress(tally.inputs, total(), rec)

    def finished(result: FileResult) -> None:
        if result.input_sha256 is not None:
            journal.add(result.index, JournalEntry(
                result.record, result.input_sha256, result.output_sha256, fingerprint,
                result.input_stamp, result.output_stamp,
            ))
        record(result.index, result.record)

    def work() -> Iterator[WorkItem]:
        """The images to process, as discovery finds them; every other file is recorded
        on the way (skipped, failed, or kept from the run this one resumes)."""
        nonlocal kept, images, discovered
        for index, source in enumerate(sources):
            discovered = index + 1
            if source.kind != IMAGE:
                status = FAILED if source.kind == FAIL else SKIPPED
                record(index, ImageRecord(source.relative, None, status, error=source.reason))
                continue
            images += 1
            item = planner.plan(source, index)
            if isinstance(item, FileResult):  # its output name is taken
                record(index, item.record)
                continue
            if noise_key is not None:
                item = seeded(item, noise_key)
            review = (reviewed or {}).get(printable_path(source.relative))
            if review is not None:
                item = dataclasses.replace(item, corrections=review)
                redo_reasons["corrected by a reviewer"] += 1
            elif resume:
                entry = journal.previous(printable_path(source.relative))
                reason = _redo_reason(item, entry, fingerprint, out_dir, rehash)
                if reason is None:
                    kept += 1
                    journal.keep(index, printable_path(source.relative))
                    record(index, entry.record)
                    continue
                redo_reasons[reason] += 1
            yield item

    items = work()
    # As many local workers as there is work for, up to the cores: a run of three photos on
    # a 64-core machine starts three, not 64 that each load the models.
    cores = (config.workers or usable_cores()) if config.engine == "local" else 1
    first = list(itertools.islice(items, cores))
    workers = max(1, min(cores, len(first))) if config.engine == "local" else config.workers
    items = itertools.chain(first, items)
    engine = build_engine(engine_name(config.engine, config.workers), workers, config.device, config.ray_address)

    with spool, contextlib.closing(journal):
        try:
            if not first and finished_runtime is not None:
                # Every file was kept from a finished run with this config: its models are
                # the ones that run recorded, and loading them would be most of the resume.
                runtime = finished_runtime
            else:
                runtime = run_job(FileJob(config, out_dir, run, consent), items, finished, engine)
        except OSError as exc:
            raise DeidError(
                f"cannot write the run journal in {report}: {exc.strerror or exc}; "
                "free space and rerun with --resume"
            ) from None
        warnings = _warnings(config, runtime)
        if not images:
            warnings.append(
                f"{NO_IMAGE_WARNING} {src_dir}"
                + (f" ({tally.inputs} files, none of them an image)" if tally.inputs else " (it is empty)")
                + "; check the path"
            )
        summary = RunSummary(
            out_dir=out_dir,
            report_dir=report,
            counts=Counts(
                inputs=tally.inputs, ok=tally.status[OK], failed=tally.status[FAILED], skipped=tally.status[SKIPPED],
                faces=tally.faces, heads=tally.heads, images_with_faces=tally.images_with_faces, texts=tally.texts,
                dropped=tally.decisions["drop"], kept_by_consent=tally.decisions["keep"], added=tally.decisions["add"],
                consent_matches=tally.decisions[CONSENT],
            ),
            warnings=warnings,
            failed_files=[FailedFile(f["source"], f["error"]) for f in tally.failed_files],
            files_with_metadata={c: tally.metadata_found[c] for c in sorted(tally.metadata_found)},
            config=config.to_dict(),
            versions={
                "deid": _version("deid"), "pillow": _version("pillow"), "numpy": _version("numpy"),
                "models": runtime["models"],
            },
            devices=runtime["devices"],
            workers=engine.size,
            wall_time_s=round(time.monotonic() - started, 3),
            source_dir=str(src_dir),
            source_dir_absolute=str(src_dir.resolve()),
            started_at=started_at,
            command=[printable_path(arg) for arg in sys.argv],
            resumed=kept,
            resume=Resumed(kept, dict(redo_reasons.most_common())) if resume else None,
            consent=None if consent is None else consent.summary(),
        )
        try:
            journal.fold(write_report(report, spool, summary.to_json(), discovered))
            write_html_report(report, out_dir, config.output.max_pixels)
        except OSError as exc:
            raise DeidError(
                f"cannot write the report in {report}: {exc.strerror or exc}; free space and rerun with --resume"
            ) from None
    return summary


def _redo_reason(
    item: WorkItem, entry: JournalEntry | None, fingerprint: str, out_dir: Path, rehash: bool,
) -> str | None:
    if entry is None:
        # Outputs are renamed into place whole before their journal line is written: a
        # stop between the two leaves a complete file that no line vouches for.
        if (out_dir / item.output).exists():
            return "written but not recorded before the stop"
        return "not done before"
    if entry.record.status != OK:
        return "failed before"
    if entry.config_sha256 != fingerprint:
        return "config or deid version changed"
    if entry.record.output != printable_path(item.output):
        return "output name changed"
    if not _unchanged(item.source.path, entry.input_stamp, entry.input_sha256, rehash):
        return "input changed"
    if not _unchanged(out_dir / item.output, entry.output_stamp, entry.output_sha256, rehash):
        return "output missing or changed"
    return None


def _unchanged(path: Path, stamp: Stamp | None, sha256: str | None, rehash: bool) -> bool:
    """Whether ``path`` still holds what the journal recorded: by its stamp alone, or when
    that differs (or ``rehash``), by its content."""
    if not rehash and stamp is not None and file_stamp(path) == stamp:
        return True
    try:
        return sha256_file(path) == sha256
    except OSError:
        return False


def _remove_partial_files(out_dir: Path, run: str) -> None:
    """Temporary files this run's killed predecessor left behind (they never had a final
    name); those of other runs are theirs."""
    for path in out_dir.rglob(run_temp_prefix(run) + "*"):
        with contextlib.suppress(OSError):
            path.unlink()


class OutputPlanner:
    """The output path of each image, decided before any is written. Two inputs that would
    land on one name (photo.heic and photo.jpg, converted to JPEG) are not both written:
    the second is reported as failed. Names can only meet within one output folder, which
    discovery fills from one source folder at a time; with ``per_folder`` the names taken
    are kept for the current folder only, so that memory does not grow with the run (a
    list of files in the user's order keeps them all)."""

    def __init__(self, config: OutputConfig, report_dir: Path, per_folder: bool = True) -> None:
        key = load_or_create_key(report_dir, KEY_FILE) if config.rename == "hash" else b""
        self._config = config
        self._namer = OutputNamer(config.rename, key)
        self._per_folder = per_folder
        self._folder: PurePosixPath | None = None
        self._taken: dict[str, str] = {}
        self._images = 0

    def plan(self, source: SourceFile, index: int) -> WorkItem | FileResult:
        suffix = output_suffix(PurePosixPath(source.relative).suffix, source.format or "", self._config)
        output = self._namer.stem(source.relative, self._images).as_posix() + suffix
        self._images += 1
        if self._config.rename == "sequential":
            return WorkItem(source, output, index=index)  # numbered: no name can repeat
        folder = PurePosixPath(output).parent
        if self._per_folder and folder != self._folder:
            self._folder, self._taken = folder, {}
        if output.lower() in self._taken:
            return failed_result(
                source, f"its output name {printable_path(output)} is already taken by "
                f"{printable_path(self._taken[output.lower()])}", index,
            )
        self._taken[output.lower()] = source.relative
        return WorkItem(source, output, index=index)


def plan_outputs(
    images: list[SourceFile], config: OutputConfig, report_dir: Path
) -> tuple[list[WorkItem], list[FileResult]]:
    """Every image's output (``OutputPlanner``), and the failure of each whose name is taken."""
    planner = OutputPlanner(config, report_dir, per_folder=False)
    items, clashes = [], []
    for index, source in enumerate(images):
        planned = planner.plan(source, index)
        (clashes if isinstance(planned, FileResult) else items).append(planned)
    return items, clashes


# The key that seeds the noise of the noise and pixelate modes, beside rename.key: with
# it, a resumed run draws each file's noise again exactly; without it, nobody can.
NOISE_KEY_FILE = "noise.key"
SEED_BYTES = 8


def seeded(item: WorkItem, key: bytes) -> WorkItem:
    """The image's noise seed, from the key and its path in SRC."""
    return dataclasses.replace(item, seed=int.from_bytes(keyed_digest(key, item.source.relative)[:SEED_BYTES], "big"))


@dataclass(frozen=True)
class RunPlan:
    lines: list[str]  # one per file, then a summary line
    failed: int  # files the run would fail


def plan_run(
    src: str | Path, config: Config | None = None, files: list[str | Path] | None = None,
    progress: Callable[[int, int, int], None] | None = None, keep_faces: str | Path | None = None,
) -> RunPlan:
    """What ``run`` would do to each file of ``src``, one line each, writing nothing: the
    output name of each image (with --rename hash, keyed with a throwaway key, so the
    names are not the ones a run will write), or why a file is skipped or would fail.
    Every image is read and decoded whole, as the run does, so that one the run could not
    decode is listed as failing; ``progress(done, total, failed)`` follows the decoding.
    ``keep_faces`` is enrolled as the run would, so that a photo it would refuse is
    refused here."""
    import tempfile

    config = config or Config()
    consent = _enrol(keep_faces, config) if keep_faces is not None else None
    sources = list(list_sources(Path(src), files))  # its lines are all kept anyway
    images = [s for s in sources if s.kind == IMAGE]
    with tempfile.TemporaryDirectory() as scratch:
        items, clashes = plan_outputs(images, config.output, Path(scratch))
    planned = {item.source.relative: item.output for item in items}
    refused = {result.record.source: result.record.error for result in clashes}
    lines, status = [], Counter()
    for done, source in enumerate(sources, 1):
        name = printable_path(source.relative)
        if source.kind == IMAGE and source.relative in planned:
            reason = decode_failure(source, config.output)
            if reason is None:
                lines.append(f"write   {name} -> {printable_path(planned[source.relative])}")
            else:
                lines.append(f"fail    {name}: {reason}")
            status[OK if reason is None else FAILED] += 1
        elif source.kind == IMAGE:
            lines.append(f"fail    {name}: {refused.get(source.relative)}")
            status[FAILED] += 1
        else:
            lines.append(f"{'fail' if source.kind == FAIL else 'skip'}    {name}: {source.reason}")
            status[FAILED if source.kind == FAIL else SKIPPED] += 1
        if progress:
            progress(done, len(sources), status[FAILED])
    if consent is not None:
        lines.append(
            f"consent: {counted(len(consent.names), 'participant')} enrolled from "
            f"{counted(len(consent.photos), 'photo')} in {keep_faces}"
        )
    lines.append(
        f"{len(sources)} files: {status[OK]} would be written, {status[FAILED]} would fail, "
        f"{status[SKIPPED]} skipped"
    )
    return RunPlan(lines, status[FAILED])


def counted(number: int, thing: str) -> str:
    """"1 photo", "2 photos": for the lines deid prints."""
    return f"{number} {thing}" + ("" if number == 1 else "s")


def list_sources(src: Path, files: list[str | Path] | None) -> Iterable[SourceFile]:
    """Every file under the folder ``src``, as the walk finds them (a generator: a large
    tree is never held whole); the image ``src`` alone; or the ``files`` of ``src``
    (absolute, or relative to it), in the order given (a list)."""
    if not src.exists():
        raise UsageError(f"source {src} does not exist; give the folder of images (or one image) to sanitize")
    if src.is_file():
        if files:
            raise UsageError("--files-from needs SRC to be the folder the listed files are in")
        return [classify(src, src.name)]
    if not src.is_dir():
        raise UsageError(f"source {src} is neither a folder nor a file")
    if files is None:
        return discover(src)
    root, listed = src.resolve(), []
    for name in files:
        path = Path(name) if Path(name).is_absolute() else src / name
        if not path.resolve().is_relative_to(root):
            raise UsageError(f"listed file {name} is not inside {src}; list files of SRC only")
        if not path.is_file():
            raise UsageError(f"listed file {name} does not exist in {src}")
        listed.append(classify(path, path.resolve().relative_to(root).as_posix()))
    return listed


def check_paths(src: Path, out: Path, report: Path, overwrite: bool, single_file: bool = False) -> None:
    src_r, out_r, report_r = src.resolve(), out.resolve(), report.resolve()
    if single_file:
        pass  # OUT may be beside the photo, in the folder that holds it
    elif out_r == src_r or out_r.is_relative_to(src_r):
        raise UsageError(f"output {out} is inside the source {src}; choose an output folder outside it")
    if src_r.is_relative_to(out_r):
        raise UsageError(f"source {src} is inside the output {out}; choose an output folder outside it")
    if report_r == out_r or report_r.is_relative_to(out_r):
        raise UsageError(
            f"report folder {report} is inside the output {out}; it names the original files, "
            "so keep it outside the dataset"
        )
    if not single_file and (report_r == src_r or report_r.is_relative_to(src_r)):
        raise UsageError(f"report folder {report} is inside the source {src}; put it elsewhere")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"output folder {out} is not empty; pass --resume to continue the run that wrote it, "
            "or --overwrite to replace its files"
        )


def _reviewed(path: str | Path, report: Path, src_dir: Path) -> dict[str, FileCorrections]:
    """The corrections of ``path``, checked against the finished run's records (each file
    written by it, or held back for a review, each box inside its image) before anything is
    written."""
    corrections = load_corrections(Path(path))
    sizes: dict[str, list[tuple[int, int]]] = {}
    try:
        for record in iter_records(report):
            # A file refused for review is failed with its size and boxes recorded.
            if record["source"] in corrections and record.get("width") and record["status"] in (OK, FAILED):
                sizes[record["source"]] = [frame_size(record, i) for i in range(record.get("frames") or 1)]
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(
            f"--corrections needs the finished run's report ({report / IMAGES_FILE}: {exc}); finish the run first"
        ) from None
    check_corrections(
        corrections, lambda source: sizes.get(source) if (src_dir / source).is_file() else None, Path(path),
    )
    return corrections


def _enrol(folder: str | Path, config: Config) -> ConsentList:
    """The participants of ``folder``, enrolled with the run's own detectors (so that their
    boxes are placed as the run's are), before anything is written."""
    from deid.consent import enrol
    from deid.detect.ensemble import FaceDetector

    return enrol(folder, FaceDetector(config.detect, config.device), config.output.max_pixels)


def _finished_runtime(report: Path) -> dict[str, Any] | None:
    """What ran in the finished run whose report is in ``report`` (models, devices, the
    notes among its warnings); None when there is no finished report."""
    summary = RunSummary.read(report)
    if summary is None or "models" not in summary.versions:
        return None
    notes = [w for w in summary.warnings if not w.startswith(NO_IMAGE_WARNING)]
    return {"models": summary.versions["models"], "devices": summary.devices, "notes": notes}


# The start of the warning of a run that found no image (not a note of the models).
NO_IMAGE_WARNING = "no image found in"


def _warnings(config: Config, runtime: dict[str, Any]) -> list[str]:
    warnings = list(dict.fromkeys(runtime["notes"]))
    if config.device == "cuda" and "cuda" not in runtime["devices"] and not warnings:
        warnings.append("--device cuda: the configured detectors run on the CPU only")
    return warnings


def _version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None

"""``deid verify``: an audit of a finished dataset that trusts nothing deid wrote into it.

Every output image is read back and checked three ways:

* faces: scanned again by detectors that took no part in anonymizing it (dlib's CNN and
  HOG detectors, from the ``deid[audit]`` extra) and by the anonymizing ensemble in its
  strict settings. A face any of them still finds is a *residual face*, whether deid
  missed it or covered it too weakly. Only the output's pixels are read for this, never
  the report's claims about them.
* metadata: the output's metadata, read with the reader of ``deid inspect``; any
  privacy-relevant category is a *residual tag*.
* re-identification (given the originals): each face the report says was covered is
  embedded from the original and from the same place in the output (``deid.reid``). It
  is *re-identifiable* when a face recogniser, shown the output face, picks its own
  original out of every original face checked, within its match distance: what an
  attacker holding photos of the people would do.

The result goes to ``verify.json`` in the report folder. A clean verify is evidence, not
proof: it finds what its detectors find.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from deid.boxes import Detections, clip_boxes, enclosing_box, group_overlapping, share_inside
from deid.config import DEVICES, ENGINES, DetectConfig, DetectorConfig, load_config
from deid.decode import decode
from deid.discover import FAIL, IMAGE, discover, read_regular_file
from deid.engine import Job, build_engine, engine_name, run_job
from deid.engine.local import usable_cores
from deid.errors import ConfigError, DeidError, UsageError
from deid.html_report import write_html_report
from deid.output import write_atomic
from deid.reid import EmbeddedFace
from deid.results import ReidMatch, Reidentification, ResidualFace, ResidualTags, Unreadable, VerifyReport

VERIFY_FILE = "verify.json"
# A box of the verifying ensemble counts as a residual face from this score: where both
# of its models leave no doubt (deid.anonymize.base.CONFIDENT_SCORE). Lower, its boxes on
# deid's own caltech outputs are hands, patterns and the edges of black boxes: at 0.5
# they flagged 8 of the first 100 files, at 0.8 none; on the same photos covered with a
# light blur, 97 of 100 still scored 0.8.
ENSEMBLE_RESIDUAL_SCORE = 0.8
# dlib's CNN at its own decision boundary (margin 0, score 0.5): the lowest the model
# reports. It flagged none of the first 100 caltech outputs of the default config.
CNN_RESIDUAL_SCORE = 0.5
# dlib's HOG detector below its boundary (margin -0.3), on the image upscaled 2x (faces
# from about 40 px instead of 80). At margin -0.5 it flagged 2 of those 100 outputs
# (clutter), at -0.2 none; on the blurred ones it flagged 86-89 of 100 either way.
HOG_RESIDUAL_SCORE = 0.43
# The ensemble's closer look runs where its first passes saw a box under this height (px)
# scoring AUDIT_SEED_SCORE, and around every box under that height scoring the strict
# threshold: twice the default's 32 px, since the audit looks for faces deid's own closer
# look may have missed. The second look (candidates confirmed across passes) is off: it
# only ever keeps boxes under the threshold, far below ENSEMBLE_RESIDUAL_SCORE.
AUDIT_SEED_HEIGHT = 64.0
AUDIT_SEED_SCORE = 0.3
# Boxes of different detectors overlapping this much are one residual face.
SAME_FACE_IOU = 0.3
# Regions a person decided may stay visible: a reviewer's drop (not a face) and keep, and a
# consent match (deid.corrections, deid.consent).
LEFT_VISIBLE_DECISIONS = frozenset({"drop", "keep", "consent"})
# A face verify finds is the decided one when this much of it lies inside the decided box:
# the scanners' boxes are placed and sized differently from the run's detectors' (dlib's
# hug the eyes and mouth, inside the run's box).
DECIDED_SHARE = 0.5
# Output faces compared with every original at once: the distance matrix is this many rows
# of 8 bytes per face checked (20 MB for 10,000 faces).
REID_CHUNK = 256

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Scanner:
    """One detector setting the audit runs, and the score from which its boxes count."""

    label: str
    detect: DetectConfig
    min_score: float


def scanners(audit: bool) -> list[Scanner]:
    """The ensemble in its strict settings (every pass, mirrored) and, with the audit
    extra, dlib's CNN and HOG detectors."""
    found = [Scanner("ensemble (strict)", audit_ensemble(), ENSEMBLE_RESIDUAL_SCORE)]
    if audit:
        found += [
            Scanner("dlib-cnn", DetectConfig(detectors=(
                DetectorConfig(name="dlib", variant="cnn", threshold=CNN_RESIDUAL_SCORE),)), CNN_RESIDUAL_SCORE),
            Scanner("dlib-hog", DetectConfig(detectors=(
                DetectorConfig(name="dlib", variant="hog", threshold=HOG_RESIDUAL_SCORE),)), HOG_RESIDUAL_SCORE),
        ]
    return found


# Detectors of the strict preset the audit does not run (see audit_ensemble).
AUDIT_LEAVES_OUT = frozenset({"haar"})


def audit_ensemble() -> DetectConfig:
    """The strict preset's detectors, with CenterFace's closer look (mirrored, 1.5x and
    2x) around small faces, as the default looks, instead of over the whole of every
    image: on a crowd that is still the whole image; on a full-size photo the whole
    image was most of the audit's time. Without strict's profile cascade: its scores count
    agreeing windows, not a face's likelihood, so ENSEMBLE_RESIDUAL_SCORE means nothing to
    it, and it doubled strict's time."""
    strict = load_config("strict").detect
    return dataclasses.replace(strict, detectors=tuple(
        dataclasses.replace(d, candidate_threshold=0.0, confirm_score=0.0, upscale_below=AUDIT_SEED_HEIGHT,
                            upscale_score=AUDIT_SEED_SCORE) if d.name == "centerface" else d
        for d in strict.detectors if d.name not in AUDIT_LEAVES_OUT
    ))


def audit_available() -> str | None:
    """None when the audit extra is installed; else what is missing."""
    from deid.detect.dlib import import_dlib, models_dir

    try:
        import_dlib()
        models_dir()
    except ConfigError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class AuditTask:
    output: str  # relative to OUT
    path: Path
    original: Path | None = None  # the source file, when re-identification is checked
    faces: tuple[tuple[int, tuple[float, ...]], ...] = ()  # (frame, xyxy) the report lists


@dataclass
class FileAudit:
    output: str
    error: str | None = None
    residual_faces: list[ResidualFace] = field(default_factory=list)
    residual_tags: list[str] = field(default_factory=list)
    # Per face checked for re-identification: (frame, its embeddings).
    embeddings: list[tuple[int, EmbeddedFace]] = field(default_factory=list)


class Auditor:
    """The models of one process, loaded once."""

    def __init__(self, device: str, audit: bool, reid: bool, threads: int = 0) -> None:
        from deid.detect.ensemble import FaceDetector

        self.scanners = scanners(audit)
        self._detectors = [FaceDetector(s.detect, device, threads) for s in self.scanners]
        self._recogniser = None
        if reid:
            from deid.reid import FaceRecogniser

            self._recogniser = FaceRecogniser()

    def check(self, task: AuditTask, max_pixels: int) -> FileAudit:
        result = FileAudit(task.output)
        try:
            decoded = decode(read_regular_file(task.path), max_pixels)
            result.residual_tags = list(decoded.metadata_found)
            for index, pixels in enumerate(decoded.frames):
                result.residual_faces += self._scan(pixels, index, task.output)
            if self._recogniser is not None and task.original is not None and task.faces:
                original = decode(read_regular_file(task.original), max_pixels)
                for index, pixels in enumerate(decoded.frames):
                    boxes = [list(box) for frame, box in task.faces if frame == index]
                    if not boxes or index >= len(original.frames):
                        continue
                    before = original.frames[index]
                    if before.shape[:2] != pixels.shape[:2]:
                        raise DeidError(f"the original {task.original.name} and the output differ in size")
                    for face in self._recogniser.embeddings(before, pixels, boxes):
                        result.embeddings.append((index, face))
        except (DeidError, OSError) as exc:
            result.error = str(exc) if isinstance(exc, DeidError) else f"cannot read: {exc.strerror or exc}"
        except Exception as exc:  # an output the audit cannot read is a finding, not a crash
            result.error = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
        return result

    def _scan(self, pixels: np.ndarray, frame: int, output: str) -> list[ResidualFace]:
        height, width = pixels.shape[:2]
        found = []
        for scanner, detector in zip(self.scanners, self._detectors):
            faces = detector.detect(pixels)
            faces = faces[faces.scores >= scanner.min_score]
            found.append(faces.with_boxes(clip_boxes(faces.xyxy, width, height)))
        faces = Detections.concatenate(found)
        residual = []
        for group in group_overlapping(faces.xyxy, faces.scores, SAME_FACE_IOU):
            top = group[0]
            residual.append(ResidualFace(
                output=output,
                frame=frame,
                box=[round(float(v), 1) for v in enclosing_box(faces.xyxy[group])],
                score=round(float(faces.scores[top]), 4),
                detector=str(faces.detectors[top]),
                seen_by=sorted({str(d) for d in faces.detectors[group]}),
            ))
        return residual


@dataclass(frozen=True)
class AuditJob(Job[AuditTask, FileAudit]):
    """verify's per-file work, as the engines run it."""

    device: str
    audit: bool
    reid: bool
    max_pixels: int

    def start(self) -> AuditRunner:
        return AuditRunner(Auditor(self.device, self.audit, self.reid, threads=1), self.max_pixels)

    def failed(self, item: AuditTask, reason: str) -> FileAudit:
        return FileAudit(item.output, error=reason)


@dataclass(frozen=True)
class AuditRunner:
    auditor: Auditor
    max_pixels: int

    def __call__(self, task: AuditTask) -> FileAudit:
        return self.auditor.check(task, self.max_pixels)

    def runtime(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class VerifyResult:
    report_dir: Path
    report: VerifyReport

    @property
    def clean(self) -> bool:
        return self.report.clean

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


def verify(
    out: str | Path,
    report_dir: str | Path | None = None,
    source: str | Path | None = None,
    device: str = "auto",
    workers: int = 0,
    sample: int | None = None,
    progress: Progress | None = None,
    max_pixels: int | None = None,
    engine: str = "local",
    ray_address: str = "",
) -> VerifyResult:
    """Audit the dataset in ``out`` and write ``verify.json`` into ``report_dir`` (default
    ``<out>.report``). With ``source`` (the folder deid read), also measure how many covered
    faces a face recogniser still re-identifies; that needs the run's report, which maps
    each output to its original and lists the faces covered. ``workers``, ``engine`` and
    ``ray_address`` mean what they mean for ``run``; an output whose worker dies is
    reported unreadable, as a run reports the file that killed its worker. ``max_pixels``
    (None: the run's own ``output.max_pixels``, from its report) bounds what is decoded."""
    from deid.pipeline import default_report_dir

    started = time.monotonic()
    out_dir = Path(out)
    report = Path(report_dir) if report_dir is not None else default_report_dir(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder; give the output folder of a deid run")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if sample is not None and sample < 1:
        raise UsageError(f"--sample must be at least 1, got {sample}")
    if max_pixels is None:
        max_pixels = run_max_pixels(report)
    missing_audit = audit_available()
    skipped = []
    if missing_audit:
        skipped.append(f"dlib's detectors and the re-identification check ({missing_audit})")
    reid = source is not None and not missing_audit
    if source is None:
        reid_not_checked = "no --source given"
    elif missing_audit:
        reid_not_checked = f"the audit extra is missing ({missing_audit})"
    else:
        reid_not_checked = ""
    originals, decided = _from_run_report(report, Path(source) if reid else None)

    files = list(discover(out_dir))
    unreadable = [Unreadable(f.relative, f.reason or "") for f in files if f.kind == FAIL]
    images = [f for f in files if f.kind == IMAGE]
    population = len(images)
    if sample is not None and sample < len(images):
        images = sorted(random.Random(0).sample(images, sample), key=lambda f: f.relative)
    tasks = [
        AuditTask(f.relative, f.path, *originals.get(f.relative, (None, ())))
        for f in images
    ]
    size = min(workers or usable_cores(), max(1, len(tasks))) if engine == "local" else workers
    results: list[FileAudit] = []

    def finished(result: FileAudit) -> None:
        results.append(result)
        if progress:
            progress(len(results), len(tasks))

    job = AuditJob(device, not missing_audit, reid, max_pixels)
    run_job(job, tasks, finished, build_engine(engine_name(engine, workers), size, device, ray_address))
    results.sort(key=lambda r: r.output)

    residual: list[ResidualFace] = []
    on_purpose: list[ResidualFace] = []
    for face in (face for r in results for face in r.residual_faces):
        (on_purpose if _decided(face, decided) else residual).append(face)
    verified = VerifyReport(
        files=len(tasks),
        sampled_from=population if sample is not None else None,
        residual_faces=residual,
        residual_tags=[ResidualTags(r.output, r.residual_tags) for r in results if r.residual_tags],
        unreadable=unreadable + [Unreadable(r.output, r.error) for r in results if r.error],
        reidentifiable=_reidentifiable(results) if reid else None,
        reid_not_checked=reid_not_checked,
        checked_with=[s.label for s in scanners(not missing_audit)],
        skipped=skipped,
        wall_time_s=round(time.monotonic() - started, 3),
        left_visible=on_purpose,
    )
    text = json.dumps(verified.to_json(), indent=2, ensure_ascii=False) + "\n"
    try:
        report.mkdir(parents=True, exist_ok=True)
        write_atomic(report / VERIFY_FILE, text.encode("utf-8"))
        write_html_report(report, out_dir, max_pixels)
    except OSError as exc:
        raise DeidError(f"cannot write {report / VERIFY_FILE}: {exc.strerror or exc}") from None
    return VerifyResult(report, verified)


def _decided(face: ResidualFace, decided: dict[tuple[str, int], np.ndarray]) -> bool:
    """Whether most of ``face`` lies in a region a person decided may stay visible."""
    boxes = decided.get((face.output, face.frame))
    if boxes is None:
        return False
    return bool((share_inside([face.box], boxes) >= DECIDED_SHARE).any())


def run_max_pixels(report: Path) -> int:
    """The pixel limit of the run that wrote the report (so that outputs it wrote under a
    raised limit are not refused), or the default when there is no readable report."""
    from deid.config import OutputConfig
    from deid.results import RunSummary

    summary = RunSummary.read(report)
    try:
        return int(summary.config["output"]["max_pixels"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return OutputConfig.max_pixels


def _from_run_report(
    report: Path, source: Path | None,
) -> tuple[dict[str, tuple[Path, tuple]], dict[tuple[str, int], np.ndarray]]:
    """From one pass over the run's ``images.jsonl``: output path -> (original file, faces
    covered), for re-identification, when ``source`` is given; and (output, frame) -> boxes
    a person decided may stay visible. A report is needed only for re-identification."""
    from deid.report import IMAGES_FILE, OK, iter_records

    if source is not None and not source.is_dir():
        raise UsageError(f"source {source} is not a folder; give the folder the run read (SRC)")
    if not (report / IMAGES_FILE).is_file():
        if source is not None:
            raise UsageError(
                f"no {IMAGES_FILE} in {report}: re-identification needs the run's report; give it with --report"
            )
        return {}, {}
    originals: dict[str, tuple[Path, tuple]] = {}
    decided: dict[tuple[str, int], list[list[float]]] = {}
    for record in iter_records(report):
        if record["status"] != OK or not record["output"]:
            continue
        if source is not None:
            faces = tuple((int(f.get("frame", 0)), tuple(f["box"])) for f in record["faces"])
            originals[record["output"]] = (source / PurePosixPath(record["source"]), faces)
        for decision in record.get("decisions") or []:
            if decision["decision"] in LEFT_VISIBLE_DECISIONS:
                decided.setdefault((record["output"], int(decision.get("frame", 0))), []).append(decision["box"])
    return originals, {key: np.asarray(boxes, dtype=np.float64) for key, boxes in decided.items()}


def _reidentifiable(results: list[FileAudit]) -> Reidentification:
    return reidentified([(r.output, frame, face) for r in results for frame, face in r.embeddings])


def reidentified(faces: list[tuple[str, int, EmbeddedFace]]) -> Reidentification:
    """Faces (output, frame, embeddings) a recogniser still matches to their original.

    An output face is matched when it is within the recogniser's match distance of its
    original, and the output and its original pick each other out of the crowd: the
    output's nearest picture, among every original checked and every original with its
    face blacked out (``blank``), is its own original, and the original's nearest output
    is its own. Distance alone is not enough: the embedding of a black box lies within 0.6
    of about 40% of faces (measured on caltech). Nor is mutual nearness among the run's
    faces alone: with one face checked, or a few, each is trivially the other's nearest.
    The blanks are the distractors every run has, whatever its size: an output nearer
    the picture without the face than to the face itself shows nothing of it (on 173
    caltech faces covered solid, no output was nearer its original than its blank; of the
    same faces under a blur of 0.02, 58% were)."""
    from deid.reid import MATCH_DISTANCE

    if not faces:
        return Reidentification(0, 0, 0)
    originals = np.stack([f[2].original for f in faces])
    outputs = np.stack([f[2].output for f in faces])
    blanks = np.stack([f[2].blank for f in faces])
    count = len(faces)
    own = np.linalg.norm(outputs - originals, axis=1)
    # Nearest other picture of each output, and nearest other output of each original.
    other_picture = np.full(count, np.inf)
    other_output = np.full(count, np.inf)
    for start in range(0, count, REID_CHUNK):
        chunk = outputs[start:start + REID_CHUNK]
        distances = _distances(chunk, originals)
        rows = np.arange(len(distances))
        distances[rows, start + rows] = np.inf
        other_picture[start:start + len(distances)] = np.minimum(distances.min(axis=1), _distances(chunk, blanks).min(axis=1))
        other_output = np.minimum(other_output, distances.min(axis=0))
    matched = (own < MATCH_DISTANCE) & (own < other_picture) & (own < other_output)
    matches = [
        ReidMatch(output=faces[i][0], frame=faces[i][1], box=faces[i][2].box, distance=round(float(own[i]), 4))
        for i in np.flatnonzero(matched)
    ]
    return Reidentification(count, len(matches), int((own < MATCH_DISTANCE).sum()), matches)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and of ``b``."""
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def format_summary(result: VerifyResult) -> str:
    """One screen: what was checked, what was found, where the details are."""
    report = result.report
    sampled = f" (a sample of {report.sampled_from})" if report.sampled_from is not None else ""
    lines = [f"verified {report.files} images{sampled} with {', '.join(report.checked_with)}"]
    lines.append(f"residual faces: {len(report.residual_faces)} in {report.files_with_residual_faces} files")
    for face in report.residual_faces[:5]:
        lines.append(f"  {face.output}: {face.box} score {face.score} ({', '.join(face.seen_by)})")
    if len(report.residual_faces) > 5:
        lines.append(f"  ... {len(report.residual_faces) - 5} more in {VERIFY_FILE}")
    if report.left_visible:
        lines.append(
            f"left visible on purpose: {len(report.left_visible)} faces found where the report records a "
            "consent match or a reviewer's drop or keep (not residual; listed in left_visible)"
        )
    lines.append(f"residual metadata: {len(report.residual_tags)} files")
    for entry in report.residual_tags[:5]:
        lines.append(f"  {entry.output}: {', '.join(entry.tags)}")
    if report.unreadable:
        lines.append(f"unreadable outputs: {len(report.unreadable)}")
        for unreadable in report.unreadable[:5]:
            lines.append(f"  {unreadable.output}: {unreadable.error}")
    reid = report.reidentifiable
    if reid is None:
        hint = "; give --source SRC" if report.reid_not_checked.startswith("no --source") else ""
        lines.append(f"re-identification: not checked ({report.reid_not_checked}{hint})")
    else:
        lines.append(
            f"re-identification: {reid.matched} of {reid.checked} covered faces still matched "
            "to their original by a face recogniser"
        )
    for item in report.skipped:
        lines.append(f"skipped: {item}")
    lines.append("verdict: " + ("nothing residual found" if result.clean else "FOUND residual identifying content"))
    lines.append(f"details: {result.report_dir / VERIFY_FILE}")
    return "\n".join(lines)

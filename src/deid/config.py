"""Run configuration: dataclasses that map one-to-one onto ``deid/presets/*.toml``.

A TOML file sets any subset of the fields; the rest keep their defaults. A key that names
no field is an error, so a typo never silently falls back to a weaker default.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The registries are leaf modules: they name what can be built without importing it.
from deid.anonymize import ANONYMIZERS
from deid.detect import DETECTORS
from deid.device import RUNTIMES
from deid.errors import ConfigError
from deid.formats import FORMATS
from deid.names import RENAME_MODES

DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("local", "ray")
KEEPABLE_METADATA = frozenset({"resolution"})
SHAPES = ("box", "ellipse")
PRECISIONS = ("auto", "int8", "float32")

# Both detectors score real faces in the caltech set mostly above 0.6 and background
# clutter below 0.3; 0.3 keeps profile and partly hidden faces (recall over precision).
DEFAULT_DETECTOR_THRESHOLD = 0.3

# A candidate under 32 px in the native pass flags an image with small faces (a crowd, a
# street, an audience), where the closer look (mirrored and upscaled passes) is worth its
# cost; on portraits it is skipped. 24 and 16 px each lost faces on the shared crowds set.
UPSCALE_BELOW = 32.0
# Real crowds (WIDER FACE photos, ../shared/data/faces/wider) hold whole photos of clear
# faces 16-32 px tall that CenterFace scores just under 0.3 at every scale: a candidate
# scoring 0.15 is enough to take the closer look. 0.1 protected one more face of 664 on
# wider/ and cost 25% more time on caltech; 0.2 lost two (docs/detection.md).
UPSCALE_SCORE = 0.15
# Boxes scoring this much in any pass are candidates for the second look. Below 0.05
# CenterFace's heatmap is mostly background texture; from 0.05 it still outlines about 94%
# of the faces >= 16 px of wider/ (docs/detection.md).
CANDIDATE_THRESHOLD = 0.05
# A candidate below the threshold is a face when its best scores over the image's passes
# (native, mirrored, 1.5x, mirrored 1.5x; a pass that did not see it counts 0) average
# at least this, and at least two passes saw it. Clutter scores in one pass and not the
# next; a real face keeps scoring. 0.07 protected 95% of faces >= 16 px on wider/; 0.08
# lost two more faces there and saved 17% of the false regions on caltech (deid eval).
CONFIRM_SCORE = 0.07

# Every image is also looked at shrunk to half (faces >= 64 px are >= 32 px there, well
# inside CenterFace's range): on wider/ it protected 2 more of the 75 faces >= 64 px, and
# as one more pass that texture must agree with, it cut the false regions by a quarter on
# caltech/ and wider_train/ (docs/detection.md). It costs a quarter of the native pass.
LARGE_FACE_SHRINK = 0.5

# BlazeFace boxes run from the eyebrows to the chin and between the cheekbones. Growing
# each side by 35% of the box covers hair, ears and jawline on the caltech photos; the
# region is then 1.7x the detected box in each direction.
DEFAULT_MARGIN = 0.35
# A box the detectors are unsure of is often offset or too small for a turned, blurred
# or partly hidden head: its margin grows by up to 0.3 of the box as the score falls
# below CONFIDENT_SCORE, and by up to 0.15 as the face shrinks from 32 to 16 px (a pixel
# of offset is then a larger share of the face). On wider/ these turned 4 partly covered
# faces >= 16 px into covered ones (docs/detection.md).
DEFAULT_MARGIN_LOW_SCORE = 0.3
DEFAULT_MARGIN_SMALL_FACE = 0.15


@dataclass(frozen=True)
class DetectorConfig:
    """One detector of the ensemble."""

    name: str = "centerface"
    # Detector-specific model choice, "" for the detector's default; for BlazeFace
    # "short" (faces within ~2 m, selfies) or "full" (faces within ~5 m, the default).
    variant: str = ""
    threshold: float = DEFAULT_DETECTOR_THRESHOLD
    # Factors the image is resized by before detection, one pass each: above 1 finds
    # faces too small for the model at native size, below 1 faces that fill the frame.
    scales: tuple[float, ...] = (1.0,)
    # Side (px, at the pass's scale) of the overlapping tiles a pass of more than tile x
    # tile pixels is cut into; 0 sends each pass whole. Bounds memory per inference.
    tile: int = 0
    # Also look at the whole image shrunk by this factor (or to one tile's pixels, when
    # that is smaller), 0 for no such pass unless tiles need it. Large faces are then
    # seen whole, at the size the model knows best, and judged by one more look.
    shrink: float = 0.0
    # Also run every pass on the mirrored image: a detector's score for a face changes
    # with its orientation, so a face just under the threshold one way is often over it,
    # or seen again as a candidate, the other way.
    flip: bool = False
    # Run the closer look (the scales above 1, and the mirrored passes) only on images
    # where the native pass found a box shorter than this (px) scoring at least
    # upscale_score; 0 runs every pass on every image. Small faces come in groups (a
    # crowd, a street, an audience), so one seen at native size flags the images that
    # need the costly passes; a portrait or a small photo is spared them.
    upscale_below: float = 0.0
    # Score of the box that takes the closer look; 0 means the detector's threshold.
    upscale_score: float = 0.0
    # Second look: boxes scoring at least this (below the threshold) in any pass are
    # candidates; a candidate is kept as a face when its scores over the image's passes
    # average confirm_score and at least two passes saw it. 0 turns it off: only boxes
    # scoring the threshold count.
    candidate_threshold: float = 0.0
    confirm_score: float = 0.0
    # Model file to use instead of the one shipped in a package ("" = the shipped one).
    model_path: str = ""
    # CenterFace's arithmetic: "int8" (about 1.6x the images/s on the CPU, as many faces
    # protected on the shared sets), "float32", or "auto": int8 on the CPU, float32 on a
    # GPU. int8 needs ranges measured on the model file (scripts/calibrate_centerface.py);
    # with "auto", another model file runs in float32.
    precision: str = "auto"
    # What runs CenterFace: "auto" (ONNX Runtime, on its CUDA provider when it has one;
    # on a GPU machine without onnxruntime-gpu, PyTorch with CUDA when installed; else
    # ONNX Runtime on the CPU), "onnxruntime", or "torch" (the same model file converted
    # when it is loaded; float32 only).
    runtime: str = "auto"

    def __post_init__(self) -> None:
        if self.name not in DETECTORS:
            raise ConfigError(
                f"unknown detector {self.name!r}; choose one of: {', '.join(sorted(DETECTORS))}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"detector threshold must be between 0 and 1, got {self.threshold}")
        if not self.scales or any(not 0.05 <= s <= 8.0 for s in self.scales):
            raise ConfigError(f"detector scales must be 0.05-8, at least one, got {list(self.scales)}")
        if self.model_path and not Path(self.model_path).is_file():
            raise ConfigError(f"model_path {self.model_path} is not a file; give the path of the model")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"detector precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"detector runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.runtime != "auto" and self.name != "centerface":
            raise ConfigError(f"runtime {self.runtime} can be chosen for centerface only, not {self.name}")
        if self.precision == "int8" and self.name != "centerface":
            raise ConfigError(f"precision int8 is available for centerface only, not {self.name}")
        if self.upscale_below < 0:
            raise ConfigError(f"detector upscale_below must be 0 (off) or a face height in px, got {self.upscale_below}")
        if not 0.0 <= self.shrink < 1.0:
            raise ConfigError(f"detector shrink must be 0 (off) or a factor below 1, got {self.shrink}")
        if self.tile and self.tile < 64:
            raise ConfigError(f"detector tile must be 0 (off) or at least 64 px, got {self.tile}")
        if not 0.0 <= self.upscale_score < 1.0:
            raise ConfigError(f"detector upscale_score must be 0 (the threshold) or a score below 1, got {self.upscale_score}")
        if not 0.0 <= self.candidate_threshold <= self.threshold:
            raise ConfigError(
                f"detector candidate_threshold must be 0 (off) or at most the threshold "
                f"({self.threshold}), got {self.candidate_threshold}"
            )
        if not 0.0 <= self.confirm_score < 1.0:
            raise ConfigError(f"detector confirm_score must be 0-1, got {self.confirm_score}")
        if self.candidate_threshold and not self.confirm_score:
            raise ConfigError("detector candidate_threshold needs a confirm_score (the mean score that keeps a candidate)")

    @property
    def cut(self) -> float:
        """The lowest score a pass reports: the candidates' when the second look is on."""
        return self.candidate_threshold or self.threshold

    @property
    def closer_look_score(self) -> float:
        return self.upscale_score or self.threshold


@dataclass(frozen=True)
class DetectConfig:
    # Chosen by measurement on real crowds (WIDER FACE photos) and web photos (caltech),
    # docs/detection.md: CenterFace at native size, and where a small face may be, mirrored
    # and at 1.5x, with low-score candidates confirmed across those passes; BlazeFace short
    # range adds faces that fill a selfie. BlazeFace full range found no face on those
    # sets that the rest missed, for 14% of the time on caltech, and was dropped.
    detectors: tuple[DetectorConfig, ...] = (
        DetectorConfig(
            name="centerface", scales=(1.0, 1.5), flip=True, tile=1024, shrink=LARGE_FACE_SHRINK,
            upscale_below=UPSCALE_BELOW, upscale_score=UPSCALE_SCORE,
            candidate_threshold=CANDIDATE_THRESHOLD, confirm_score=CONFIRM_SCORE,
        ),
        DetectorConfig(name="blazeface", variant="short"),
    )
    # Boxes from different detectors (or variants) that overlap this much are one face;
    # they are merged into their enclosing box so no detector's coverage is lost.
    merge_iou: float = 0.3
    # Look again, stretched back, at an image whose faces are all narrower than faces are
    # (a photo fitted into a square without keeping its proportions, as many datasets
    # store them); deid.detect.squeeze.
    unsqueeze: bool = True

    def __post_init__(self) -> None:
        if not self.detectors:
            raise ConfigError("detect.detectors is empty; list at least one detector")
        if not 0.0 < self.merge_iou <= 1.0:
            raise ConfigError(f"detect.merge_iou must be in (0, 1], got {self.merge_iou}")


@dataclass(frozen=True)
class AnonymizeConfig:
    mode: str = "solid"
    shape: str = "box"
    # Fraction of the detected box's width (height) added on the left and right (top and
    # bottom) of the face.
    margin: float = DEFAULT_MARGIN
    # Extra margin for a face the detectors are unsure of: up to margin_low_score more as
    # its score falls to 0, up to margin_small_face more as its height falls from 32 to
    # 16 px. 0 turns either off.
    margin_low_score: float = DEFAULT_MARGIN_LOW_SCORE
    margin_small_face: float = DEFAULT_MARGIN_SMALL_FACE
    # Fill colour of the "solid" mode, RGB 0-255.
    color: tuple[int, int, int] = (0, 0, 0)
    # "pixelate": number of cells across the region. Under about 8 cells a face cannot be
    # recognised by people; models still do better than chance, hence not the default.
    pixelate_cells: int = 6
    # "pixelate": standard deviation of Gaussian noise added to each cell, as a fraction
    # of 255; makes the cell averages less useful to a model. 0 disables it.
    pixelate_noise: float = 0.1
    # "blur": Gaussian sigma as a fraction of the region's larger side.
    blur_strength: float = 0.2

    def __post_init__(self) -> None:
        if self.mode not in ANONYMIZERS:
            raise ConfigError(
                f"unknown mode {self.mode!r}; choose one of: {', '.join(ANONYMIZERS)}"
            )
        if self.shape not in SHAPES:
            raise ConfigError(f"unknown shape {self.shape!r}; choose one of: {', '.join(SHAPES)}")
        if not 0.0 <= self.margin <= 3.0:
            raise ConfigError(f"anonymize.margin must be between 0 and 3, got {self.margin}")
        for name in ("margin_low_score", "margin_small_face"):
            if not 0.0 <= getattr(self, name) <= 3.0:
                raise ConfigError(f"anonymize.{name} must be between 0 and 3, got {getattr(self, name)}")
        if len(self.color) != 3 or any(not 0 <= c <= 255 for c in self.color):
            raise ConfigError(f"anonymize.color must be three integers 0-255, got {list(self.color)}")
        if not 1 <= self.pixelate_cells <= 64:
            raise ConfigError(f"anonymize.pixelate_cells must be 1-64, got {self.pixelate_cells}")
        if not 0.0 <= self.pixelate_noise <= 1.0:
            raise ConfigError(f"anonymize.pixelate_noise must be 0-1, got {self.pixelate_noise}")
        if not 0.0 < self.blur_strength <= 1.0:
            raise ConfigError(f"anonymize.blur_strength must be in (0, 1], got {self.blur_strength}")


TEXT_POLICIES = ("off", "identifying", "all")
# Text boxes from PP-OCRv4 hug the glyphs; a fifth of the line's height on every side
# covers descenders, accents and the ink the detector's polygon cuts.
DEFAULT_TEXT_MARGIN = 0.2


@dataclass(frozen=True)
class TextConfig:
    # "off"; "identifying": read each text region and cover names, plates, phone numbers,
    # e-mail addresses, handles, street addresses and long numbers; "all": every region.
    policy: str = "off"
    # Grown on every side of a text box, as a fraction of its height; faces have their own.
    margin: float = DEFAULT_TEXT_MARGIN

    def __post_init__(self) -> None:
        if self.policy not in TEXT_POLICIES:
            raise ConfigError(f"text.policy must be one of {', '.join(TEXT_POLICIES)}, got {self.policy!r}")
        if not 0.0 <= self.margin <= 3.0:
            raise ConfigError(f"text.margin must be between 0 and 3, got {self.margin}")


@dataclass(frozen=True)
class OutputConfig:
    # JPEG quality of re-encoded JPEGs; 95 keeps the untouched pixels visually lossless.
    jpeg_quality: int = 95
    # Images with more pixels than this are refused as possible decompression bombs.
    # 100 MP is above every current camera sensor (the largest phones are 200 MP but
    # store 12-50 MP by default); raise it for panoramas.
    max_pixels: int = 100_000_000
    # Harmless fields to carry over from the input; the only one is "resolution" (the
    # print DPI). Identifying metadata can never be kept.
    keep_metadata: tuple[str, ...] = ()
    # Formats to convert on output, as "INPUT=OUTPUT" Pillow format names, e.g.
    # "HEIF=JPEG" for tools that cannot read HEIC. Default: every format is kept.
    convert: tuple[str, ...] = ()
    # Output file names: "keep" (same relative path), "hash" (keyed hash of every folder
    # and file name) or "sequential" (000001.jpg, ... in one folder).
    rename: str = "keep"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.keep_metadata) - KEEPABLE_METADATA)
        if unknown:
            raise ConfigError(
                f"output.keep_metadata: {unknown[0]!r} cannot be kept; only "
                f"{', '.join(sorted(KEEPABLE_METADATA))} may be"
            )
        if self.rename not in RENAME_MODES:
            raise ConfigError(f"output.rename must be one of {', '.join(RENAME_MODES)}, got {self.rename!r}")

        writers = {fmt.name for fmt in FORMATS}
        for rule in self.convert:
            source, _, target = rule.partition("=")
            if not source or target not in writers:
                raise ConfigError(
                    f"output.convert: {rule!r} must be INPUT=OUTPUT with OUTPUT one of "
                    f"{', '.join(sorted(writers))}, e.g. HEIF=JPEG"
                )
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"output.jpeg_quality must be 1-100, got {self.jpeg_quality}")
        if self.max_pixels < 1:
            raise ConfigError(f"output.max_pixels must be positive, got {self.max_pixels}")


LARGE_REGION_ACTIONS = ("queue", "refuse")
# Faces in photos of scenes, events and crowds are small: of the labelled faces of the
# shared test sets (faces.json), 99% of wider's cover less than 4.5% of their photo and
# 99% of wider_train's less than 1.4%. Faces in portraits and close-ups are large
# (caltech: median 4.9%, 90th percentile 34%; facemask: 12% and 35%). A box over a quarter
# of its image is a portrait, a close-up, or a scene mistaken for a face (a lake half
# blacked out): worth a person's look, which on a portrait costs a glance.
DEFAULT_MAX_REGION = 0.25


@dataclass(frozen=True)
class ReviewConfig:
    # The largest face or head box, as a share of its image's area, trusted without a
    # person's review.
    max_region: float = DEFAULT_MAX_REGION
    # What a larger box gets: "queue" (covered, and first in `deid review`'s queue) or
    # "refuse" (the file is not written, and reported failed with the box, until a
    # corrections file names it: a person looked).
    large_region: str = "queue"

    def __post_init__(self) -> None:
        if not 0.0 < self.max_region <= 1.0:
            raise ConfigError(f"review.max_region must be a share of the image in (0, 1], got {self.max_region}")
        if self.large_region not in LARGE_REGION_ACTIONS:
            raise ConfigError(
                f"review.large_region must be one of {', '.join(LARGE_REGION_ACTIONS)}, got {self.large_region!r}"
            )


@dataclass(frozen=True)
class Config:
    # "auto" uses a GPU when one is usable, else the CPU.
    device: str = "auto"
    # Parallel worker processes; 0 means one per CPU core. With the Ray engine: actors,
    # 0 meaning one per CPU of the cluster.
    workers: int = 0
    # "local" (worker processes on this machine) or "ray" (actors on a Ray cluster, with
    # the deid[ray] extra); the same per-file function either way, the same outputs.
    engine: str = "local"
    # Address of the Ray cluster to join ("auto": the one started on this node with
    # `ray start`); "" starts a Ray instance on this machine for the run.
    ray_address: str = ""
    detect: DetectConfig = field(default_factory=DetectConfig)
    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    text: TextConfig = field(default_factory=TextConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 (all cores) or more, got {self.workers}")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS_PACKAGE = "deid.presets"


def preset_names() -> list[str]:
    from importlib import resources

    return sorted(p.name[:-5] for p in resources.files(PRESETS_PACKAGE).iterdir() if p.name.endswith(".toml"))


def preset_path(name: str) -> Path:
    """The packaged preset ``name`` (default, strict, fast), wherever deid is installed."""
    from importlib import resources

    if name not in preset_names():
        raise ConfigError(f"no preset named {name!r}; presets: {', '.join(preset_names())}")
    return Path(str(resources.files(PRESETS_PACKAGE) / f"{name}.toml"))


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config, or a packaged preset by name ("strict"); ``None`` gives the
    defaults. A file of that name in the current folder wins over a preset."""
    if path is None:
        return Config()
    path = Path(path)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1 and str(path) in preset_names():
        path = preset_path(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        import difflib

        # A bare name is more likely a mistyped preset than a missing file.
        close = difflib.get_close_matches(path.stem, preset_names(), n=1) if len(path.parts) == 1 else []
        raise ConfigError(
            f"config {path} is neither a preset nor an existing file; give a preset "
            f"({', '.join(preset_names())}) or the path of a TOML file"
            + (f"; did you mean {close[0]!r}?" if close else "")
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_from_dict(data: dict[str, Any]) -> Config:
    return _build(Config, data, "")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f"unknown key {where}{unknown[0]!r}; known keys here: {known}")
    kwargs = {name: _convert(hints[name], value, f"{where}{name}") for name, value in data.items()}
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{where}.")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type")  # pragma: no cover

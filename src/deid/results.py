"""What a run and a verify return, as typed values: the library returns them, the CLI prints
them, ``summary.json`` and ``verify.json`` are their ``to_json()``, and the HTML page reads
them back with ``from_json()``. Nothing re-derives a verdict from the JSON by itself."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deid.report import SUMMARY_FILE


@dataclass(frozen=True)
class Counts:
    inputs: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    faces: int = 0
    heads: int = 0  # heads covered where no face was seen (the pose detector)
    images_with_faces: int = 0
    texts: int = 0
    # A reviewer's decisions applied (deid.corrections): regions left uncovered as not a
    # face, faces left visible by consent, missed faces drawn and covered.
    dropped: int = 0
    kept_by_consent: int = 0
    added: int = 0
    # Faces left visible because the recogniser matched them to a participant who agreed
    # to be shown (--keep-faces, deid.consent).
    consent_matches: int = 0

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class FailedFile:
    source: str
    error: str | None


@dataclass(frozen=True)
class Resumed:
    """What a resumed run found: files kept as done, and why each other file was redone."""

    kept: int
    redone: dict[str, int]


@dataclass(frozen=True)
class RunSummary:
    """A finished run: ``summary.json`` is its ``to_json()``."""

    out_dir: Path
    report_dir: Path
    counts: Counts
    warnings: list[str] = field(default_factory=list)
    failed_files: list[FailedFile] = field(default_factory=list)
    files_with_metadata: dict[str, int] = field(default_factory=dict)  # category -> input files
    config: dict[str, Any] = field(default_factory=dict)  # the run's Config.to_dict()
    versions: dict[str, Any] = field(default_factory=dict)  # deid, pillow, numpy, models
    devices: list[str] = field(default_factory=list)
    workers: int = 0
    wall_time_s: float = 0.0
    source_dir: str = ""
    source_dir_absolute: str = ""
    started_at: str = ""
    command: list[str] = field(default_factory=list)
    resumed: int = 0  # images kept from the run this one resumed
    resume: Resumed | None = None  # None when not resumed
    # The consent list of --keep-faces (deid.consent.ConsentList.summary); None without one.
    consent: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """0 when every image was processed, 1 when any failed."""
        return 1 if self.counts.failed else 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "counts": self.counts.to_json(),
            "files_with_metadata": dict(self.files_with_metadata),
            "failed_files": [dataclasses.asdict(f) for f in self.failed_files],
            "warnings": list(self.warnings),
            "config": self.config,
            "versions": self.versions,
            "devices": list(self.devices),
            "workers": self.workers,
            "wall_time_s": self.wall_time_s,
            "source_dir": self.source_dir,
            "output_dir": str(self.out_dir),
            "source_dir_absolute": self.source_dir_absolute,
            "output_dir_absolute": str(Path(self.out_dir).resolve()),
            "started_at": self.started_at,
            "command": list(self.command),
            "resumed": self.resumed,
        }
        if self.resume is not None:
            data["resume"] = dataclasses.asdict(self.resume)
        if self.consent is not None:
            data["consent"] = dict(self.consent)
        return data

    @classmethod
    def read(cls, report_dir: Path) -> RunSummary | None:
        """The summary of the finished run whose report is in ``report_dir``; None when there
        is none (no run finished there, or its summary cannot be read)."""
        try:
            data = json.loads((Path(report_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))
            return cls.from_json(data, report_dir)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @classmethod
    def from_json(cls, data: dict[str, Any], report_dir: Path) -> RunSummary:
        resume = data.get("resume")
        return cls(
            out_dir=Path(data.get("output_dir", "")),
            report_dir=Path(report_dir),
            counts=Counts.from_json(data.get("counts", {})),
            warnings=list(data.get("warnings", [])),
            failed_files=[FailedFile(f["source"], f.get("error")) for f in data.get("failed_files", [])],
            files_with_metadata=dict(data.get("files_with_metadata", {})),
            config=data.get("config", {}),
            versions=data.get("versions", {}),
            devices=list(data.get("devices", [])),
            workers=int(data.get("workers", 0)),
            wall_time_s=float(data.get("wall_time_s", 0.0)),
            source_dir=data.get("source_dir", ""),
            source_dir_absolute=data.get("source_dir_absolute", ""),
            started_at=data.get("started_at", ""),
            command=list(data.get("command", [])),
            resumed=int(data.get("resumed", 0)),
            resume=None if resume is None else Resumed(int(resume["kept"]), dict(resume["redone"])),
            consent=data.get("consent"),
        )


@dataclass(frozen=True)
class ResidualFace:
    """A face a verify scanner still found in an output."""

    output: str
    frame: int
    box: list[float]
    score: float
    detector: str  # the scanner with the highest score
    seen_by: list[str]  # every scanner that found it


@dataclass(frozen=True)
class ResidualTags:
    output: str
    tags: list[str]  # privacy-relevant metadata categories still in the file


@dataclass(frozen=True)
class Unreadable:
    output: str
    error: str


@dataclass(frozen=True)
class ReidMatch:
    output: str
    frame: int
    box: list[float]
    distance: float  # between the output's and the original's embeddings


@dataclass(frozen=True)
class Reidentification:
    checked: int  # covered faces embedded, from the original and from the output
    matched: int
    within_distance: int  # outputs within the recogniser's match distance of their original
    matches: list[ReidMatch] = field(default_factory=list)


@dataclass(frozen=True)
class VerifyReport:
    """A finished verify: ``verify.json`` is its ``to_json()``."""

    files: int
    sampled_from: int | None  # the outputs a --sample was drawn from; None for all
    residual_faces: list[ResidualFace]
    residual_tags: list[ResidualTags]
    unreadable: list[Unreadable]
    reidentifiable: Reidentification | None  # None when not checked
    reid_not_checked: str  # why re-identification was not checked; "" when it was
    checked_with: list[str]
    skipped: list[str]
    wall_time_s: float
    # Faces found where the run's report says a person decided they stay visible (a
    # reviewer's drop or keep, a consent match): listed, and not residual.
    left_visible: list[ResidualFace] = field(default_factory=list)

    @property
    def files_with_residual_faces(self) -> int:
        return len({face.output for face in self.residual_faces})

    @property
    def clean(self) -> bool:
        """Nothing residual: no face, no tag, no unreadable output, no re-identified face."""
        reid = self.reidentifiable
        return not (self.residual_faces or self.residual_tags or self.unreadable or (reid and reid.matched))

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["files_with_residual_faces"] = self.files_with_residual_faces
        data["clean"] = self.clean
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerifyReport:
        reid = data.get("reidentifiable")
        return cls(
            files=int(data["files"]),
            sampled_from=data.get("sampled_from"),
            residual_faces=[ResidualFace(**face) for face in data.get("residual_faces", [])],
            residual_tags=[ResidualTags(**tags) for tags in data.get("residual_tags", [])],
            unreadable=[Unreadable(**entry) for entry in data.get("unreadable", [])],
            reidentifiable=None if reid is None else Reidentification(
                reid["checked"], reid["matched"], reid["within_distance"],
                [ReidMatch(**match) for match in reid.get("matches", [])],
            ),
            reid_not_checked=data.get("reid_not_checked", ""),
            checked_with=list(data.get("checked_with", [])),
            skipped=list(data.get("skipped", [])),
            wall_time_s=float(data.get("wall_time_s", 0.0)),
            left_visible=[ResidualFace(**face) for face in data.get("left_visible", [])],
        )

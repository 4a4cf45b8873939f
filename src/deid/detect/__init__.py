"""Face detectors behind one interface, and the ensemble that fuses their results.

A new detector is one module with a class satisfying ``Detector`` plus one line in
``DETECTORS``. Modules are imported only when a detector is built, so importing deid
does not load any model runtime.
"""

from __future__ import annotations

import importlib

from deid.detect.base import Detector

# name -> "module:class"; each class is constructed as
# cls(config: DetectorConfig, device: str, threads: int), threads 0 meaning the runtime's default
DETECTORS: dict[str, str] = {
    "blazeface": "deid.detect.blazeface:BlazeFaceDetector",
    "centerface": "deid.detect.centerface:CenterFaceDetector",
    # Faces seen from the side (OpenCV's profile cascade).
    "haar": "deid.detect.haar:HaarDetector",
    # Heads of people whose face is not seen (boxes of kind "head").
    "pose": "deid.detect.pose:PoseHeadDetector",
    # Optional (deid[audit]); the independent second opinion of ``deid verify``.
    "dlib": "deid.detect.dlib:DlibDetector",
}


def detector_class(name: str) -> type:
    module_name, _, class_name = DETECTORS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["DETECTORS", "Detector", "detector_class"]

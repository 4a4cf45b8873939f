"""deid: de-identify image datasets.

    import deid
    result = deid.anonymize_image(image)          # PIL image or numpy array
    summary = deid.run("PHOTOS", "CLEAN", config=deid.load_config("default"))
"""

from importlib import metadata as _metadata

from deid.boxes import Detections, FaceBoxes
from deid.config import Config, load_config
from deid.errors import ConfigError, DeidError, ImageError, UsageError
from deid.pipeline import AnonymizedImage, anonymize_image, run
from deid.results import RunSummary, VerifyReport

try:  # written once, in pyproject.toml
    __version__ = _metadata.version("deid")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

__all__ = [
    "AnonymizedImage",
    "Config",
    "ConfigError",
    "DeidError",
    "Detections",
    "FaceBoxes",
    "ImageError",
    "RunSummary",
    "VerifyReport",
    "UsageError",
    "__version__",
    "anonymize_image",
    "load_config",
    "run",
]

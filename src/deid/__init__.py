"""deid: de-identify image datasets.

    import deid
    result = deid.anonymize_image(image)          # PIL image or numpy array
    summary = deid.run("PHOTOS", "CLEAN", config=deid.load_config("default"))
"""

from deid.boxes import FaceBoxes
from deid.config import Config, load_config
from deid.errors import ConfigError, DeidError, ImageError, UsageError
from deid.pipeline import AnonymizedImage, RunSummary, anonymize_image, run

__version__ = "0.1.0"

__all__ = [
    "AnonymizedImage",
    "Config",
    "ConfigError",
    "DeidError",
    "FaceBoxes",
    "ImageError",
    "RunSummary",
    "UsageError",
    "__version__",
    "anonymize_image",
    "load_config",
    "run",
]

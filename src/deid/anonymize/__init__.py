"""Anonymization modes. A new mode is one module with an ``Anonymizer`` subclass plus one
line in ``ANONYMIZERS``. The registry names classes rather than importing them, so that
the config may check a mode's name without importing what the mode is built from."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deid.anonymize.base import Anonymizer
    from deid.config import AnonymizeConfig

# name -> "module:class"; each class is constructed as cls(config: AnonymizeConfig)
ANONYMIZERS: dict[str, str] = {
    "solid": "deid.anonymize.solid:SolidAnonymizer",
    "pixelate": "deid.anonymize.pixelate:PixelateAnonymizer",
    "blur": "deid.anonymize.blur:BlurAnonymizer",
    "noise": "deid.anonymize.noise:NoiseAnonymizer",
}


def build_anonymizer(config: AnonymizeConfig) -> Anonymizer:
    module_name, _, class_name = ANONYMIZERS[config.mode].partition(":")
    return getattr(importlib.import_module(module_name), class_name)(config)


__all__ = ["ANONYMIZERS", "build_anonymizer"]

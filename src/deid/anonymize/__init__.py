"""Anonymization modes. A new mode is one module with an ``Anonymizer`` subclass plus one
line here (and its name in ``deid.config.MODES``)."""

from __future__ import annotations

from deid.anonymize.base import Anonymizer, region_mask
from deid.anonymize.blur import BlurAnonymizer
from deid.anonymize.noise import NoiseAnonymizer
from deid.anonymize.pixelate import PixelateAnonymizer
from deid.anonymize.solid import SolidAnonymizer
from deid.config import AnonymizeConfig

ANONYMIZERS: dict[str, type[Anonymizer]] = {
    "solid": SolidAnonymizer,
    "pixelate": PixelateAnonymizer,
    "blur": BlurAnonymizer,
    "noise": NoiseAnonymizer,
}


def build_anonymizer(config: AnonymizeConfig) -> Anonymizer:
    return ANONYMIZERS[config.mode](config)


__all__ = ["ANONYMIZERS", "Anonymizer", "build_anonymizer", "region_mask"]

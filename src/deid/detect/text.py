"""Text regions: PP-OCRv4 detection and recognition from the ``rapidocr-onnxruntime``
wheel (the ``deid[text]`` extra), run by the onnxruntime deid already uses.

``all`` covers every region the detection model finds; ``identifying`` reads each region
and covers those a rule of ``deid.text_rules`` matches. A region the recogniser cannot
read confidently is covered anyway under ``identifying``: an unreadable badge may still
be readable to a person.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deid.boxes import TEXT, Detections
from deid.errors import ConfigError, DetectionError
from deid.extras import install_hint
from deid.text_rules import identifying_rule

# Under this recognition score the text read is a guess; under ``identifying`` such a
# region is covered (rule "unreadable"). PP-OCRv4 reads clear printed text at 0.9 and up.
READABLE_SCORE = 0.6
RULE_ALL = "any text"
# The detector name text regions carry in the report.
TEXT_MODEL = "pp-ocrv4"


class TextDetector:
    def __init__(self, policy: str, device: str = "auto", threads: int = 0) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise ConfigError(f"text detection needs rapidocr-onnxruntime; {install_hint('text')}") from None
        import onnxruntime

        from deid.device import onnx_providers

        choice = onnx_providers(device, onnxruntime.get_available_providers())
        cuda = choice.device == "cuda"
        options: dict[str, Any] = {
            "text_score": 0.0,  # every region comes back; the rules decide
            "det_use_cuda": cuda, "rec_use_cuda": cuda, "cls_use_cuda": cuda,
        }
        if threads:
            options["intra_op_num_threads"] = threads
            options["inter_op_num_threads"] = 1
        self.policy = policy
        self.device = choice.device
        self._engine = RapidOCR(**options)

    def detect(self, image: np.ndarray) -> Detections:
        """Text regions, of kind TEXT, each with the rule that made it covered."""
        image = np.ascontiguousarray(image[:, :, :3])
        read = self.policy == "identifying"
        try:
            found, _ = self._engine(image, use_det=True, use_cls=read, use_rec=read)
        except Exception as exc:  # onnxruntime and the OCR post-processing raise their own types
            raise DetectionError(f"text detection failed: {' '.join(str(exc).split())}") from None
        boxes, scores, rules = [], [], []
        for entry in found or []:
            polygon = np.asarray(entry[0] if read else entry, dtype=np.float64).reshape(-1, 2)
            if read:
                text, score = str(entry[1]), float(entry[2])
                rule = identifying_rule(text) if score >= READABLE_SCORE else "unreadable"
                if rule is None:
                    continue
            else:
                score, rule = 1.0, RULE_ALL
            boxes.append([*polygon.min(axis=0), *polygon.max(axis=0)])
            scores.append(score)
            rules.append(rule)
        if not boxes:
            return Detections.empty()
        return Detections(
            np.array(boxes), np.array(scores), np.full(len(boxes), TEXT_MODEL, dtype=object),
            np.full(len(boxes), TEXT, dtype=object), np.array(rules, dtype=object),
        )

    def model_info(self) -> dict[str, Any]:
        from importlib import metadata

        return {"detector": TEXT_MODEL, "package": f"rapidocr-onnxruntime {metadata.version('rapidocr-onnxruntime')}",
                "policy": self.policy, "device": self.device}

"""Heads from MediaPipe's person detector (BlazePose's first stage), for people whose face
the face detectors do not see: turned away, in profile, behind a hand, a mask or a camera.

The model (``pose_detection.tflite``, Apache-2.0) ships inside the mediapipe wheel; it is
run with LiteRT (``ai-edge-litert``), because MediaPipe's Python API runs it only for the
single most prominent person. For each person it gives the centre between the shoulders
and a point at the top of a circle around the upper body; the head lies on the line
between the two, at a fixed share of its length (measured on the shared face sets, see
HEAD_CENTRE). Its boxes are of kind ``head``: the ensemble keeps one only where no face
was found.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from deid.boxes import HEAD, Detections, nms
from deid.config import DetectorConfig
from deid.detect.base import native_stderr_silenced
from deid.detect.mediapipe_wheel import modules_dir, version
from deid.detect.resample import Resampler
from deid.errors import ConfigError, DetectionError
from deid.extras import install_hint

MODEL_FILE = "pose_detection.tflite"
INPUT_SIDE = 224
# The model's SSD layout (MediaPipe's pose_detection graph): anchors on grids of stride 8,
# 16 and 32 px, 2, 2 and 6 to a cell, centred in it, of fixed unit size.
ANCHOR_GRIDS = ((8, 2), (16, 2), (32, 6))
VALUES_PER_ANCHOR = 12  # box (4), then 4 keypoints (x, y)
MID_SHOULDER, UPPER_BODY_TOP = 2, 3  # keypoint indices
# Where the face is, in the frame of the line from the mid-shoulder keypoint (0) to the
# upper-body keypoint (1): its centre at 0.29 of the line and its height 0.36 of the line's
# length (medians over 1,352 detections matched to ground-truth faces of facemask/,
# wider_train/ and caltech/; 10th-90th percentiles 0.21-0.35 and 0.26-0.42). The box is
# the face's size; the anonymizer's margin then covers the head and the spread.
HEAD_CENTRE = 0.29
HEAD_SIZE = 0.36
# Of overlapping head boxes (the detector fires on neighbouring anchors), the best.
NMS_IOU = 0.3


def anchor_centres() -> np.ndarray:
    """(N, 2) anchor centres, relative to the input side, in the model's output order."""
    centres = []
    for stride, per_cell in ANCHOR_GRIDS:
        cells = INPUT_SIDE // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres)


def head_boxes(mid_shoulder: np.ndarray, upper_top: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy face-sized boxes on the head, from each person's two keypoints (N, 2)."""
    line = upper_top - mid_shoulder
    centre = mid_shoulder + HEAD_CENTRE * line
    half = 0.5 * HEAD_SIZE * np.linalg.norm(line, axis=1, keepdims=True)
    return np.concatenate([centre - half, centre + half], axis=1)


class PoseHeadDetector:
    def __init__(self, config: DetectorConfig, device: str = "auto", threads: int = 0) -> None:
        self.name = "pose"
        self.device = "cpu"
        self.note = "the pose detector runs on the CPU only" if device == "cuda" else None
        self._threshold = config.threshold
        self._path = (Path(config.model_path) if config.model_path
                      else modules_dir() / "pose_detection" / MODEL_FILE)
        if not self._path.is_file():
            raise ConfigError(f"pose model file {self._path} does not exist")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ConfigError(f"the pose detector needs LiteRT; {install_hint('heads')}") from None
        with native_stderr_silenced():
            self._interpreter = Interpreter(model_path=str(self._path), num_threads=threads or None)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1], reverse=True)
        self._regressors, self._logits = outputs[0]["index"], outputs[1]["index"]
        self._anchors = anchor_centres()

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        side = max(height, width)
        scale = INPUT_SIDE / side
        scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
        # Letterboxed as MediaPipe does: the image whole, its aspect kept, black around it.
        tensor = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.float32) - 1.0
        left, top = (INPUT_SIDE - scaled_w) // 2, (INPUT_SIDE - scaled_h) // 2
        small = Resampler(image).window(scaled_w, scaled_h, (0, 0, scaled_w, scaled_h))
        tensor[top:top + scaled_h, left:left + scaled_w] = small.astype(np.float32) / 127.5 - 1.0
        try:
            self._interpreter.set_tensor(self._input, tensor[None])
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._regressors)[0]
            logits = self._interpreter.get_tensor(self._logits)[0, :, 0]
        except (RuntimeError, ValueError) as exc:
            raise DetectionError(f"pose detector failed: {exc}") from exc
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.flatnonzero(scores >= self._threshold)
        if not len(keep):
            return Detections.empty()
        anchors = self._anchors[keep]
        keypoints = raw[keep, 4:VALUES_PER_ANCHOR].reshape(-1, 4, 2) / INPUT_SIDE + anchors[:, None, :]
        # Back to image pixels: undo the letterbox, then the scale.
        keypoints = (keypoints * INPUT_SIDE - np.array([left, top])) / scale
        boxes = head_boxes(keypoints[:, MID_SHOULDER], keypoints[:, UPPER_BODY_TOP])
        found = Detections(boxes, scores[keep], np.full(len(keep), self.name, dtype=object),
                          np.full(len(keep), HEAD, dtype=object))
        return nms(found, NMS_IOU)

    def model_info(self) -> dict[str, Any]:
        return {
            "detector": self.name,
            "package": version(),
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(self._path.read_bytes()).hexdigest(),
            "runtime": "ai-edge-litert " + metadata.version("ai-edge-litert"),
            "threshold": self._threshold,
            "device": self.device,
        }

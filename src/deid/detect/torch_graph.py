"""CenterFace's ONNX graph run by PyTorch, for GPU machines that have PyTorch with CUDA
and not onnxruntime-gpu (the usual case on research machines).

The graph is converted when it is loaded, node by node, from the same model file that
ONNX Runtime runs: no converted model is stored or shipped. Only the operators a
convolutional detector like CenterFace uses are supported; any other one is refused
with a message, and the detector then runs on ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class UnsupportedGraph(Exception):
    """The graph uses an operator this converter does not run."""


SUPPORTED_OPS = frozenset({"Conv", "ConvTranspose", "BatchNormalization", "Relu", "Add", "Sigmoid"})


class TorchGraph:
    """Runs an ONNX graph of SUPPORTED_OPS on ``device`` ("cpu" or "cuda"): called with an
    N x C x H x W float32 array, returns the named outputs as float32 arrays."""

    def __init__(self, model: Any, output_names: tuple[str, ...], device: str = "cuda") -> None:
        import torch
        from onnx import numpy_helper

        unsupported = sorted({node.op_type for node in model.graph.node} - SUPPORTED_OPS)
        if unsupported:
            raise UnsupportedGraph(f"operators {', '.join(unsupported)} are not supported")
        self._torch = torch
        self._device = torch.device(device)
        self._weights = {
            init.name: torch.from_numpy(numpy_helper.to_array(init).copy()).to(self._device)
            for init in model.graph.initializer
        }
        self._nodes = [
            (node.op_type, list(node.input), list(node.output), {a.name: _attribute(a) for a in node.attribute})
            for node in model.graph.node
        ]
        self._input = model.graph.input[0].name
        self._outputs = output_names

    def __call__(self, blob: np.ndarray) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            values = dict(self._weights)
            values[self._input] = torch.from_numpy(np.ascontiguousarray(blob, dtype=np.float32)).to(self._device)
            for op, inputs, outputs, attributes in self._nodes:
                values[outputs[0]] = _run_node(torch, op, [values[name] for name in inputs if name], attributes)
            return [values[name].float().cpu().numpy() for name in self._outputs]


def _attribute(attribute: Any) -> Any:
    from onnx import helper

    return helper.get_attribute_value(attribute)


def _run_node(torch: Any, op: str, inputs: list[Any], attributes: dict[str, Any]) -> Any:
    functional = torch.nn.functional
    if op == "Relu":
        return torch.relu(inputs[0])
    if op == "Add":
        return inputs[0] + inputs[1]
    if op == "Sigmoid":
        return torch.sigmoid(inputs[0])
    if op == "BatchNormalization":
        x, scale, bias, mean, var = inputs
        return functional.batch_norm(x, mean, var, scale, bias, False, 0.0, attributes.get("epsilon", 1e-5))
    if op in ("Conv", "ConvTranspose"):
        x, weight, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
        pads = attributes.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            raise UnsupportedGraph(f"{op} with asymmetric padding {pads}")
        if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedGraph(f"{op} with auto_pad")
        common = {
            "stride": attributes.get("strides", [1, 1]),
            "padding": pads[:2],
            "dilation": attributes.get("dilations", [1, 1]),
            "groups": attributes.get("group", 1),
        }
        if op == "Conv":
            return functional.conv2d(x, weight, bias, **common)
        return functional.conv_transpose2d(x, weight, bias, output_padding=attributes.get("output_padding", [0, 0]), **common)
    raise UnsupportedGraph(f"operator {op}")

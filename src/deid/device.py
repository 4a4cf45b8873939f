"""Choosing where inference runs: ``--device auto|cpu|cuda`` to ONNX Runtime providers."""

from __future__ import annotations

from dataclasses import dataclass

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class DeviceChoice:
    providers: list[str]
    device: str  # "cuda" or "cpu": what will run
    note: str | None = None  # why the request could not be met, for the report


def onnx_providers(requested: str, available: list[str]) -> DeviceChoice:
    """Name providers explicitly: onnxruntime lists some (Azure, for one) before the CPU
    provider, and taking its list as it comes picks a provider that cannot run a model."""
    has_cuda = CUDA_PROVIDER in available
    if requested == "cpu":
        return DeviceChoice([CPU_PROVIDER], "cpu")
    if has_cuda:
        return DeviceChoice([CUDA_PROVIDER, CPU_PROVIDER], "cuda")
    note = None
    if requested == "cuda":
        note = (
            "CUDA requested but onnxruntime has no CUDA provider here (install onnxruntime-gpu "
            "and check the GPU driver); running on the CPU"
        )
    return DeviceChoice([CPU_PROVIDER], "cpu", note)

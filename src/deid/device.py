"""Choosing where inference runs: ``--device auto|cpu|cuda`` to ONNX Runtime providers, or
to PyTorch on the GPU where ONNX Runtime has no CUDA provider and PyTorch has CUDA."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
ONNXRUNTIME = "onnxruntime"
TORCH = "torch"
RUNTIMES = ("auto", ONNXRUNTIME, TORCH)
# Present when an NVIDIA driver is loaded: checked before importing PyTorch, which takes
# seconds and hundreds of MB in every worker, only to find no GPU.
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


@dataclass(frozen=True)
class DeviceChoice:
    providers: list[str]
    device: str  # "cuda" or "cpu": what will run
    note: str | None = None  # why the request could not be met, for the report
    runtime: str = ONNXRUNTIME  # what runs the model: onnxruntime or torch


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
            "CUDA requested but onnxruntime has no CUDA provider here (install deid[gpu], or PyTorch "
            "with CUDA, and check the GPU driver); running on the CPU"
        )
        if _both_onnxruntime_builds():
            note += (
                "; both onnxruntime and onnxruntime-gpu are installed and the CPU build's files won: "
                "pip uninstall -y onnxruntime onnxruntime-gpu, then pip install onnxruntime-gpu"
            )
    return DeviceChoice([CPU_PROVIDER], "cpu", note)


def choose_device(
    requested: str, available: list[str], runtime: str = "auto",
    torch_cuda: Callable[[], bool] | None = None,
) -> DeviceChoice:
    """Where a model that both ONNX Runtime and PyTorch can run goes: ONNX Runtime's CUDA
    provider when it has one; otherwise PyTorch on the GPU when PyTorch sees one (the
    usual case on research machines); otherwise the CPU through ONNX Runtime. ``runtime``
    forces one of the two ("torch" on the CPU is for checking the conversion)."""
    torch_cuda = torch_cuda or torch_cuda_available
    if runtime == TORCH:
        if requested != "cpu" and torch_cuda():
            return DeviceChoice([], "cuda", runtime=TORCH)
        note = "CUDA requested but PyTorch sees no GPU; PyTorch runs on the CPU" if requested == "cuda" else None
        return DeviceChoice([], "cpu", note, runtime=TORCH)
    choice = onnx_providers(requested, available)
    if runtime == "auto" and requested != "cpu" and choice.device == "cpu" and torch_cuda():
        return DeviceChoice([], "cuda", runtime=TORCH)
    return choice


def torch_cuda_available() -> bool:
    if not NVIDIA_DRIVER.exists() or importlib.util.find_spec("torch") is None:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken PyTorch install means no PyTorch GPU, not a failed run
        return False


def _both_onnxruntime_builds() -> bool:
    try:
        metadata.version("onnxruntime-gpu")
        metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return False
    return True

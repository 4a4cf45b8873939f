"""deid on a GPU: images/s of the default and fast presets, the share of time in
inference, and how well the GPU's boxes agree with the CPU's.

    python scripts/gpu_bench.py [--data ../shared/data] [--device cuda] [--limit 400]

Run by scripts/gpu_bench.sh, which checks the machine first. For each set (``caltech``,
``photos/camera``) and preset (default, fast):

* images/s: ``deid run`` on the set (at most --limit files) with --device, one worker per
  core, start-up included;
* inference share: the same files in one process, the share of its time spent inside
  CenterFace's model call (the rest is decoding, resampling, BlazeFace on the CPU, box
  grouping, covering, encoding and writing);
* agreement: the default preset's faces on the CPU (int8, as deid runs there) and on the
  device, on the first 100 files of each set: the share of each side's boxes that a box of
  the other overlaps by IoU 0.5 or more.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path


PROJECT = Path(__file__).resolve().parents[1]
SETS = {"caltech": "faces/caltech", "camera": "photos/camera"}
AGREEMENT_FILES = 100
SAME_BOX_IOU = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=int, default=0, help="at most this many files a set (0 = all)")
    args = parser.parse_args()
    from deid.config import load_config
    from deid.discover import IMAGE, discover

    print("| set | preset | device | runtime | images/s | share of time in inference | boxes agreeing with the CPU |")
    print("|---|---|---|---|---:|---:|---:|")
    for name, folder in SETS.items():
        data = args.data / folder
        if not data.is_dir():
            raise SystemExit(f"{data} is not a folder; give --data (the shared data folder)")
        sources = [s for s in discover(data) if s.kind == IMAGE]
        if args.limit:
            sources = sources[: args.limit]
        for preset in ("default", "fast"):
            config = dataclasses.replace(load_config(preset), device=args.device)
            rate, runtime = images_per_s(data, sources, config)
            share = inference_share(sources[:AGREEMENT_FILES], config)
            agree = agreement(sources[:AGREEMENT_FILES], config) if preset == "default" else "–"
            print(f"| {name} ({len(sources)} files) | {preset} | {runtime['devices']} | "
                  f"{runtime['runtimes']} | {rate:.1f} | {100 * share:.0f}% | {agree} |", flush=True)


def images_per_s(data: Path, sources: list, config) -> tuple[float, dict]:
    from deid.pipeline import run

    with tempfile.TemporaryDirectory(prefix="deid-gpu-bench-") as tmp:
        started = time.perf_counter()
        summary = run(data, Path(tmp) / "out", config=config, report_dir=Path(tmp) / "report",
                      files=[s.path for s in sources])
        wall = time.perf_counter() - started
    models = summary.versions["models"]
    return len(sources) / wall, {
        "devices": ",".join(sorted({str(m.get("device")) for m in models})),
        "runtimes": ",".join(sorted({str(m["runtime"]) for m in models if m.get("runtime")})),
    }


def inference_share(sources: list, config) -> float:
    from deid.process import Stages, WorkItem, process_file

    stages = Stages(config, threads=1)
    spent = [0.0]
    detector = next(d for d in stages.detector.detectors if d.name == "centerface")
    run = detector._run

    def timed(blob):
        started = time.perf_counter()
        result = run(blob)
        spent[0] += time.perf_counter() - started
        return result

    detector._run = timed  # CenterFace's model call, whatever runs it
    with tempfile.TemporaryDirectory(prefix="deid-gpu-bench-") as out:
        started = time.perf_counter()
        for source in sources:
            process_file(WorkItem(source, str(source.relative)), Path(out), stages)
        wall = time.perf_counter() - started
    return spent[0] / wall


def agreement(sources: list, config) -> str:
    from deid.boxes import box_iou
    from deid.decode import decode
    from deid.detect.ensemble import FaceDetector

    on_cpu = FaceDetector(config.detect, "cpu", threads=0)
    on_device = FaceDetector(config.detect, config.device, threads=0)
    cpu_matched = cpu_total = device_matched = device_total = 0
    for source in sources:
        pixels = decode(source.path.read_bytes(), config.output.max_pixels).frames[0]
        a, b = on_cpu.detect(pixels), on_device.detect(pixels)
        iou = box_iou(a.xyxy, b.xyxy)
        cpu_total, device_total = cpu_total + len(a), device_total + len(b)
        if iou.size:
            cpu_matched += int((iou.max(axis=1) >= SAME_BOX_IOU).sum())
            device_matched += int((iou.max(axis=0) >= SAME_BOX_IOU).sum())
    return (f"{100 * cpu_matched / max(cpu_total, 1):.1f}% of {cpu_total} CPU boxes, "
            f"{100 * device_matched / max(device_total, 1):.1f}% of {device_total} device boxes")


if __name__ == "__main__":
    if shutil.which("nvidia-smi") is None and "--device" not in sys.argv:
        print("no nvidia-smi here: pass --device cpu to try the script on the CPU", file=sys.stderr)
    main()

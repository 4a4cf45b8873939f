"""Peak memory of one worker on hostile and on large inputs.

    python scripts/measure_memory.py [--config default]

Each case runs in a fresh process that loads the models and processes one file exactly
as a worker of ``deid run`` does; the table gives that process's peak resident set size
(getrusage ru_maxrss), which includes the models:

* models only: no file processed;
* decompression bomb: a 400-byte PNG that declares 60,000 x 60,000 pixels;
* 16 MP photo: a real street photo with people and stone carvings (the shared data's
  photos/camera/camera16.jpg, where the closer look has the most to do) enlarged to
  4,900 x 3,266, JPEG; sample_data/astronaut.jpg where the shared data is absent;
* 50 MP photo: a real photo (sample_data/astronaut.jpg) upscaled to 8,660 x 5,774, JPEG.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def png_bomb(side: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\x00" * (side + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def photo_50mp() -> bytes:
    return enlarged(PROJECT / "sample_data" / "astronaut.jpg", (8660, 5774))


def photo_16mp() -> bytes:
    street = PROJECT.parent / "shared" / "data" / "photos" / "camera" / "camera16.jpg"
    return enlarged(street if street.is_file() else PROJECT / "sample_data" / "astronaut.jpg", (4900, 3266))


def enlarged(path: Path, size: tuple[int, int]) -> bytes:
    from PIL import Image

    photo = Image.open(path).convert("RGB")
    if photo.height > photo.width:
        size = size[::-1]
    buffer = io.BytesIO()
    photo.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def measure_one(config_path: str, file: str | None) -> dict[str, object]:
    """In the child: load the models, process ``file`` (if any), report peak RSS."""
    from deid.config import load_config
    from deid.discover import classify
    from deid.process import Stages, WorkItem, process_file

    stages = Stages(load_config(config_path), threads=1)
    result: dict[str, object] = {}
    if file:
        path = Path(file)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as out:
            record = process_file(WorkItem(classify(path, path.name), path.name), Path(out), stages).record
        result = {"status": record.status, "error": record.error, "seconds": round(time.monotonic() - started, 1)}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(PROJECT / "src" / "deid" / "presets" / "default.toml"))
    parser.add_argument("--child", nargs="?", const="", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure_one(args.config, args.child or None)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"models only": None}
        for name, make, data_name in (
            ("decompression bomb (60,000 x 60,000 PNG)", lambda: png_bomb(60_000), "bomb.png"),
            ("16 MP photo (4,900 x 3,266 JPEG)", photo_16mp, "photo_16mp.jpg"),
            ("50 MP photo (8,660 x 5,774 JPEG)", photo_50mp, "photo_50mp.jpg"),
        ):
            path = Path(tmp) / data_name
            path.write_bytes(make())
            cases[name] = str(path)
        print(f"config: {args.config}")
        print("| case | file size | result | seconds | peak RSS of the worker |")
        print("|---|---:|---|---:|---:|")
        for name, file in cases.items():
            command = [sys.executable, __file__, "--config", args.config, "--child"] + ([file] if file else [])
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            size = f"{Path(file).stat().st_size / 1e6:.2f} MB" if file else "–"
            status = result.get("status", "–")
            if result.get("error"):
                status += f" ({result['error'][:60]})"
            print(f"| {name} | {size} | {status} | {result.get('seconds', '–')} | {result['peak_rss_mb']} MB |")


if __name__ == "__main__":
    main()

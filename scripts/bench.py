"""The README's speed table, from one command: deid against the decode+encode floor and
against deface, on the same files.

    python scripts/bench.py [--sets caltech,camera] [--data ../shared/data] [--rounds 2] [--workers 0]

For each set (``caltech``: 1,200 small web photos, ``camera``: full-size phone and camera
photos; or any folder under --data):

* floor: decode and encode of the same files with the same libraries deid uses (Pillow,
  deid's own decode and encode stages), in as many worker processes as deid, no detection;
* deid: ``deid run`` with the default and fast presets;
* deface: its command line at its defaults (``pip install deface`` into a virtual
  environment this script creates under .bench/, once) on a copy of the same images.

Runs alternate (floor, deid default, deid fast, deface, then again) so that a machine
that slows down part-way affects all of them alike; the table gives the best round's
images/s, its ratio to deface's and its share of the floor's, and the peak RSS of the
whole process tree (sampled every 20 ms from /proc). Every figure includes each tool's
start-up (deid's includes starting its worker processes).

Protected faces, where the set has ground truth (faces.json beside it): deid's from its
report (the anonymized regions cover at least 80% of a ground-truth box, as in ``deid
eval``); for both tools also from the pixels: a face counts as protected when at least 80%
of its box differs from the input by more than CHANGE_TOLERANCE, which is how deface's
blurred outputs can be scored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from deid.evaluate import Protection

PROJECT = Path(__file__).resolve().parents[1]
DEFACE_VERSION = "1.5.0"
# Max channel difference (0-255) above which a pixel counts as changed. Re-encoding alone
# moves about 1% of the pixels away from faces past 4 (measured on deface's caltech
# outputs), so an untouched face scores about 1%, far from the 80% rule.
CHANGE_TOLERANCE = 4
RSS_SAMPLE_S = 0.02


SETS = {"caltech": "faces/caltech", "camera": "photos/camera", "wider": "faces/wider",
        "wider_train": "faces/wider_train", "facemask": "faces/facemask"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data")
    parser.add_argument("--sets", default="caltech,camera", help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="deid and floor workers; 0 = one per core")
    parser.add_argument("--venv", type=Path, default=PROJECT / ".bench" / "deface-venv")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT / "src"))
    from deid.engine.local import usable_cores

    deface = ensure_deface(args.venv)
    workers = args.workers or usable_cores()  # what deid's own default gives
    tables = []
    for name in args.sets.split(","):
        data = args.data / SETS.get(name, name)
        if not data.is_dir():
            raise SystemExit(f"{data} is not a folder; give --data (the shared data folder)")
        tables.append((name, data, bench_set(data, deface, workers, args.rounds)))
    print(f"{os.cpu_count()} CPU cores, {workers} deid workers; best of {args.rounds} alternating rounds")
    print()
    print("| set | run | images/s | x deface | share of the floor | peak RSS | faces protected (pixels) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, data, rows in tables:
        deface_rate = next(r["images_per_s"] for r in rows if r["name"].startswith("deface"))
        floor_rate = next(r["images_per_s"] for r in rows if r["name"].startswith("decode"))
        for row in rows:
            pixels = row.get("by_pixels")
            print(f"| {name} ({row['images']} files, {row['megapixels']:.1f} MP average) | {row['name']} | "
                  f"{row['images_per_s']:.2f} | {row['images_per_s'] / deface_rate:.2f}x | "
                  f"{100 * row['images_per_s'] / floor_rate:.0f}% | {row['rss_mb']} MB | "
                  f"{_pct(pixels.protected_rate) if pixels else '–'} |")
    for name, data, rows in tables:
        if any("by_pixels" in row for row in rows):
            print()
            print_table(rows, rows[0]["images"], rows[0]["faces"], data)
            print()
            print_bands(rows, name)


def bench_set(data: Path, deface: Path, workers: int, rounds: int) -> list[dict]:
    from deid.evaluate import load_ground_truth

    gt = data.parent / "faces.json"
    truth = load_ground_truth(data, gt) if gt.is_file() else None
    images = sorted(p for p in data.rglob("*") if p.is_file() and not p.name.endswith((".txt", ".json")))
    megapixels = float(np.mean([_size(p) for p in images])) / 1e6
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runs = {
            "decode + encode floor": lambda out: [sys.executable, __file__, "--floor", str(data), str(out), str(workers)],
            "deid default": lambda out: deid_command(data, out, "default", workers),
            "deid fast": lambda out: deid_command(data, out, "fast", workers),
            f"deface {DEFACE_VERSION} (defaults)": lambda out: deface_command(deface, data, out),
        }
        for round_index in range(rounds):
            for run_index, (name, make) in enumerate(runs.items()):
                out = tmp / f"{run_index}-{round_index}"
                if name.startswith("deface"):
                    shutil.copytree(data, out)  # deface writes beside its inputs
                wall, rss = timed(make(out))
                best = results.get(name)
                if best is None or wall < best["wall_s"]:
                    results[name] = {"wall_s": wall, "rss_mb": rss, "out": out}
                print(f"{data.name}, round {round_index + 1}: {name}: {len(images) / wall:.2f} images/s, "
                      f"peak RSS {rss} MB", file=sys.stderr)
        table = []
        for name, result in results.items():
            row = {"name": name, "images_per_s": len(images) / result["wall_s"], "rss_mb": result["rss_mb"],
                   "images": len(images), "megapixels": megapixels,
                   "faces": sum(len(t.faces) for t in truth.values()) if truth else 0}
            if truth and name.startswith("deid"):
                row["by_report"] = report_rate(truth, Path(str(result["out"]) + ".report"))
                row["by_pixels"] = pixel_rate(truth, data, lambda rel, out=result["out"]: out / rel)
            elif truth and name.startswith("deface"):
                row["by_pixels"] = pixel_rate(truth, data, lambda rel, out=result["out"]: deface_output(out, rel))
            table.append(row)
    return table


def _size(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height


def deid_command(data: Path, out: Path, preset: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "deid", "run", str(data), str(out), "--config",
            str(PROJECT / "src" / "deid" / "presets" / f"{preset}.toml"), "--workers", str(workers)]


def deface_command(deface: Path, data: Path, out: Path) -> list[str]:
    return [str(deface), *[str(p) for p in sorted(out.rglob("*")) if p.is_file() and not p.name.endswith((".txt", ".json"))]]


def deface_output(out: Path, relative: str) -> Path:
    path = out / relative
    return path.with_name(path.stem + "_anonymized" + path.suffix)


def ensure_deface(venv: Path) -> Path:
    deface = venv / "bin" / "deface"
    if not deface.exists():
        print(f"installing deface {DEFACE_VERSION} into {venv} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"deface=={DEFACE_VERSION}"], check=True)
    return deface


def timed(command: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (MB) of the command's whole process tree."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=PROJECT)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(RSS_SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({process.returncode}): {stderr.decode()[-500:]}")
    return wall, round(peak[0] / 1024)


def tree_rss(root: int) -> int:
    """Sum of VmRSS (KiB) of ``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0"))
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def report_rate(truth: dict, report: Path) -> Protection:
    from deid.evaluate import score_records
    from deid.report import read_records

    return score_records(truth, read_records(report), "box").protection


def pixel_rate(truth: dict, data: Path, output_of) -> Protection:
    from deid.evaluate import PROTECTED_COVERAGE, rates_by_height

    heights, protected = [], []
    for relative, gt in truth.items():
        faces = gt.faces
        before = _pixels(data / relative)
        after_path = output_of(relative)
        after = _pixels(after_path) if after_path.exists() else None
        for x1, y1, x2, y2 in faces:
            heights.append(y2 - y1)
            if after is None or after.shape != before.shape:
                protected.append(False)
                continue
            xa, ya = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
            xb, yb = int(np.ceil(x2)), int(np.ceil(y2))
            diff = np.abs(before[ya:yb, xa:xb] - after[ya:yb, xa:xb]).max(axis=2)
            protected.append(diff.size > 0 and (diff > CHANGE_TOLERANCE).mean() >= PROTECTED_COVERAGE)
    return rates_by_height(np.asarray(heights), np.asarray(protected, dtype=bool))


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def print_table(rows: list[dict], n_images: int, n_faces: int, data: Path) -> None:
    print(f"{n_images} images, {n_faces} ground-truth faces ({data.name}); {os.cpu_count()} CPU cores")
    print()
    print("| run | images/s | peak RSS | protected (regions) | protected (pixels) | faces >=32 px (pixels) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        regions = _pct(row["by_report"].protected_rate) if "by_report" in row else "–"
        pixels = row.get("by_pixels")
        big = _pct(_merged_rate(pixels, (">=64", "32-64"))) if pixels else "–"
        print(f"| {row['name']} | {row['images_per_s']:.1f} | {row['rss_mb']} MB | {regions} | "
              f"{_pct(pixels.protected_rate) if pixels else '–'} | {big} |")


def print_bands(rows: list[dict], name: str) -> None:
    """Protected faces (pixels) by face height, for each tool: no band may be lower for
    deid than for deface."""
    from deid.evaluate import HEIGHT_BINS, RECOGNISABLE_HEIGHT, bin_label

    labels = [bin_label(low, high) for low, high in HEIGHT_BINS]
    print(f"{name}: faces protected (pixels) by height")
    print()
    print("| run | " + " | ".join(f"{label} px" for label in labels) + f" | >={RECOGNISABLE_HEIGHT} px |")
    print("|---|" + "---:|" * (len(labels) + 1))
    for row in rows:
        pixels = row.get("by_pixels")
        if not pixels:
            continue
        bands = [pixels.by_height[label] for label in labels]
        cells = [f"{_pct(b.rate)} ({b.faces - b.protected} missed)" if b.faces else "–" for b in bands]
        tall = _merged_rate(pixels, tuple(label for label, (low, _) in zip(labels, HEIGHT_BINS) if low >= RECOGNISABLE_HEIGHT))
        print(f"| {row['name']} | " + " | ".join(cells) + f" | {_pct(tall)} |")


def _merged_rate(protection: Protection, labels: tuple[str, ...]) -> float | None:
    faces = sum(protection.by_height[b].faces for b in labels)
    return sum(protection.by_height[b].protected for b in labels) / faces if faces else None


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def floor(data: Path, out: Path, workers: int) -> None:
    """Decode and encode every image as deid does, without detection."""
    from concurrent.futures import ProcessPoolExecutor

    files = sorted(p for p in data.rglob("*") if p.is_file())
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_floor_one, files, [data] * len(files), [out] * len(files), chunksize=8))


def _floor_one(path: Path, data: Path, out: Path) -> None:
    from deid.config import OutputConfig
    from deid.decode import decode
    from deid.encode import encode
    from deid.output import write_atomic

    config = OutputConfig()
    try:
        decoded = decode(path.read_bytes(), config.max_pixels)
        encoded = encode(decoded.frames, decoded.format, config, decoded.animation, decoded.dpi)
    except Exception:  # the floor only times what decodes; deid reports the rest
        return
    write_atomic(out / path.relative_to(data), encoded)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--floor":
        sys.path.insert(0, str(PROJECT / "src"))
        floor(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()

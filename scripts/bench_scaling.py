"""How deid run scales: with worker processes, and with the number of files.

    python scripts/bench_scaling.py [--data ../shared/data/faces/caltech] [--config configs/fast.toml]

* workers: images/s of ``deid run`` with --workers 1 and 2, on 400 files and on 1,200
  (the same images three times). Each run also pays a start-up (imports, model loading,
  starting worker processes) that does not depend on the number of files; the rate
  between the two runs, 800 / (time for 1,200 - time for 400), is the throughput once
  running;
* side by side: two separate ``deid run --workers 1`` on the 1,200 files each, at the same
  time, against one alone: how much two busy processes slow each other on this machine,
  the ceiling for any two workers;
* files: peak RSS of the whole process tree on 1,000 and on 10,000 files (the same
  1,000 of the set's files, repeated under new names: hard links where the file system
  allows), with the config
  given (fast by default: memory does not depend on the detectors' cost, only the time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "scripts"))

from bench import timed  # noqa: E402  (a sibling script)

WORKER_FILES = 400


def repeated(data: Path, target: Path, count: int, base: int = 1000) -> Path:
    """``count`` files made by cycling through the first ``base`` files of ``data``: the
    1,000 and the 10,000 hold the same images, so only their number differs."""
    files = sorted(p for p in data.rglob("*") if p.is_file())[:base]
    target.mkdir(parents=True)
    for index in range(count):
        source = files[index % len(files)]
        folder = target / f"{index // 1000:03d}"
        folder.mkdir(exist_ok=True)
        try:
            os.link(source, folder / f"{index:06d}{source.suffix}")
        except OSError:  # another file system: copy
            shutil.copyfile(source, folder / f"{index:06d}{source.suffix}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "faces" / "caltech")
    parser.add_argument("--config", type=Path, default=PROJECT / "configs" / "fast.toml")
    parser.add_argument("--workers-config", type=Path, default=PROJECT / "configs" / "default.toml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deid-scaling-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"{os.cpu_count()} CPU cores")
        print()
        walls: dict[tuple[int, int], float] = {}
        many = 3 * WORKER_FILES
        for count in (WORKER_FILES, many):
            repeated(args.data, tmp / f"subset{count}", count, base=WORKER_FILES)
        for _ in range(2):  # alternating rounds; the best of each
            for workers in (1, 2):
                for count in (WORKER_FILES, many):
                    out = tmp / f"w{workers}-{count}"
                    shutil.rmtree(out, ignore_errors=True)
                    shutil.rmtree(Path(str(out) + ".report"), ignore_errors=True)
                    wall, _ = timed(deid(tmp / f"subset{count}", out, args.workers_config, workers))
                    walls[workers, count] = min(walls.get((workers, count), float("inf")), wall)
        print(f"| workers ({args.workers_config.name}) | images/s, {WORKER_FILES:,} files | "
              f"images/s, {many:,} files | start-up | images/s once running | speed-up once running |")
        print("|---|---:|---:|---:|---:|---:|")
        running = {w: (many - WORKER_FILES) / (walls[w, many] - walls[w, WORKER_FILES]) for w in (1, 2)}
        for workers in (1, 2):
            startup = walls[workers, WORKER_FILES] - WORKER_FILES / running[workers]
            print(f"| {workers} | {WORKER_FILES / walls[workers, WORKER_FILES]:.1f} | "
                  f"{many / walls[workers, many]:.1f} | {startup:.1f} s | "
                  f"{running[workers]:.1f} | {running[workers] / running[1]:.2f}x |")
        alone = walls[1, many]
        with ThreadPoolExecutor(2) as both:
            side = list(both.map(lambda name: timed(deid(tmp / f"subset{many}", tmp / name, args.workers_config, 1))[0],
                                 ["side-a", "side-b"]))
        together = 2 * many / max(side)
        print(f"\nTwo separate --workers 1 runs side by side: {together:.1f} images/s together, "
              f"{together / (many / alone):.2f}x one alone ({many:,} files each)")
        print()
        print(f"| files ({args.config.name}) | images/s | peak RSS of the process tree |")
        print("|---:|---:|---:|")
        peaks = {}
        for count in (1000, 10000):
            folder = repeated(args.data, tmp / f"n{count}", count)
            wall, rss = timed(deid(folder, tmp / f"out{count}", args.config, 0))
            peaks[count] = rss
            print(f"| {count:,} | {count / wall:.1f} | {rss} MB |", flush=True)
        print(f"\n10,000 vs 1,000 files: {100 * (peaks[10000] / peaks[1000] - 1):+.1f}% peak RSS")


def deid(src: Path, out: Path, config: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "deid", "run", str(src), str(out), "--config", str(config), "--workers", str(workers)]


if __name__ == "__main__":
    main()

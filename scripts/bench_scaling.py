"""How deid run scales: with worker processes, and with the number of files.

    python scripts/bench_scaling.py [--data ../shared/data/faces/caltech] [--rounds 3] [--config fast]
        [--parts workers,ray,files]

* workers: ``deid run`` with --workers 1 and 2 on every file of --data, in alternating
  rounds. Throughput is measured inside each run, from the moment each file's result
  comes back: the files finished between the first 10% and the last 5% over the time
  they took, which leaves out start-up (imports, models, starting worker processes) and
  the last few files, when one worker may have run out of work. The speed-up is taken
  round by round (a machine that slows down part-way affects both runs of a round alike);
  the table gives each round and the median. A single worker is also run held to one core
  (its affinity): left free, the kernel's share of its work (writing files back, the
  file system's journal) runs on the idle second core, so that --workers 1 uses a little
  more than one core;
* side by side: two separate single-worker runs on the same files at the same time, their
  throughputs added, against one alone: how much two busy processes slow each other on
  this machine, the ceiling for any two workers;
* ray: the same files with ``--engine ray`` (2 actors on a Ray instance the run starts on
  this machine) against the local pool of 2 workers, in alternating rounds; start-up
  (starting Ray, its actors loading the models) shows in the whole-run figure;
* files: peak RSS of the whole process tree on 1,000 and on 10,000 files (the same
  1,000 of the set's files, repeated under new names: hard links where the file system
  allows), with the config given (fast by default: memory does not depend on the
  detectors' cost, only the time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "scripts"))

from bench import timed  # noqa: E402  (a sibling script)

# The steady part of a run, as fractions of its files in the order they finish: before
# the first 10%, a pool is still starting (on 1,200 caltech files that is 120 files, some
# 2-4 s, well past the 1-2 s a worker takes to start); after 95%, one worker may be idle
# while the other finishes its last task.
STEADY_FROM = 0.10
STEADY_TO = 0.95


def repeated(data: Path, target: Path, count: int) -> Path:
    """``count`` files made by cycling through the first 1,000 files of ``data``: the
    1,000 and the 10,000 hold the same images, so only their number differs."""
    files = sorted(p for p in data.rglob("*") if p.is_file())[:1000]
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
    parser.add_argument("--config", type=Path, default=PROJECT / "src" / "deid" / "presets" / "fast.toml")
    parser.add_argument("--workers-config", type=Path, default=PROJECT / "src" / "deid" / "presets" / "default.toml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="workers,ray,files", help="which measurements, comma-separated")
    parser.add_argument("--one-run", nargs=5, metavar=("SRC", "OUT", "WORKERS", "CORES", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        src, out, workers, cores, engine = args.one_run
        if int(cores):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: int(cores)])
        print(json.dumps(one_run(Path(src), Path(out), args.workers_config, int(workers), engine)))
        return
    with tempfile.TemporaryDirectory(prefix="deid-scaling-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"{os.cpu_count()} CPU cores")
        parts = args.parts.split(",")
        for name, bench in (("workers", bench_workers), ("ray", bench_ray), ("files", bench_files)):
            if name in parts:
                print()
                bench(args, tmp)


def bench_workers(args: argparse.Namespace, tmp: Path) -> None:
    files = sum(1 for p in args.data.rglob("*") if p.is_file())
    print(f"| round ({args.workers_config.name}, {files:,} files) | --workers 1 | --workers 1, one core | "
          "--workers 2 | speed-up | speed-up over one core | whole run: --workers 1 | whole run: --workers 2 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    runs: dict[str, list[dict[str, float]]] = {"one": [], "pinned": [], "two": []}
    for round_index in range(args.rounds):
        for name, workers, cores in (("one", 1, 0), ("pinned", 1, 1), ("two", 2, 0)):
            runs[name].append(measured_run(args, args.data, tmp / name, workers, cores))
        print(row(f"{round_index + 1}", [{k: v[-1] for k, v in runs.items()}]), flush=True)
    print(row("median", [dict(zip(runs, by_round)) for by_round in zip(*runs.values())]))
    print("\nimages/s once running: from the first 10% of the files to the last 5%; whole run: start-up included")
    with ThreadPoolExecutor(2) as both:
        side = list(both.map(lambda name: measured_run(args, args.data, tmp / name, 1, 0), ["side-a", "side-b"]))
    together = sum(run["steady"] for run in side)
    print(f"\nTwo separate --workers 1 runs side by side: {together:.1f} images/s together, "
          f"{together / statistics.median(run['steady'] for run in runs['one']):.2f}x the median single run")


def row(label: str, rounds: list[dict[str, dict[str, float]]]) -> str:
    """A table row: images/s once running, the speed-ups, and whole-run images/s; medians
    over ``rounds`` (the speed-ups are taken within each round, then their median)."""

    def med(name: str, key: str = "steady") -> float:
        return statistics.median(r[name][key] for r in rounds)

    def speed_up(over: str) -> float:
        return statistics.median(r["two"]["steady"] / r[over]["steady"] for r in rounds)

    return (f"| {label} | {med('one'):.1f} | {med('pinned'):.1f} | {med('two'):.1f} | {speed_up('one'):.2f}x | "
            f"{speed_up('pinned'):.2f}x | {med('one', 'whole'):.1f} | {med('two', 'whole'):.1f} |")


def bench_files(args: argparse.Namespace, tmp: Path) -> None:
    print(f"| files ({args.config.name}) | images/s | peak RSS of the process tree |")
    print("|---:|---:|---:|")
    peaks = {}
    for count in (1000, 10000):
        folder = repeated(args.data, tmp / f"n{count}", count)
        wall, rss = timed(deid(folder, tmp / f"out{count}", args.config, 0))
        peaks[count] = rss
        print(f"| {count:,} | {count / wall:.1f} | {rss} MB |", flush=True)
    print(f"\n10,000 vs 1,000 files: {100 * (peaks[10000] / peaks[1000] - 1):+.1f}% peak RSS")


def bench_ray(args: argparse.Namespace, tmp: Path) -> None:
    files = sum(1 for p in args.data.rglob("*") if p.is_file())
    print(f"| round ({args.workers_config.name}, {files:,} files) | local, 2 workers | ray, 2 actors | ray / local "
          "| whole run: local | whole run: ray |")
    print("|---|---:|---:|---:|---:|---:|")
    rounds = []
    for round_index in range(args.rounds):
        local = measured_run(args, args.data, tmp / "local", 2, 0)
        on_ray = measured_run(args, args.data, tmp / "ray", 2, 0, "ray")
        rounds.append((local, on_ray))
        print(f"| {round_index + 1} | {local['steady']:.1f} | {on_ray['steady']:.1f} | "
              f"{on_ray['steady'] / local['steady']:.2f}x | {local['whole']:.1f} | {on_ray['whole']:.1f} |", flush=True)
    ratio = statistics.median(r["steady"] / l["steady"] for l, r in rounds)
    print(f"| median | {statistics.median(l['steady'] for l, _ in rounds):.1f} | "
          f"{statistics.median(r['steady'] for _, r in rounds):.1f} | {ratio:.2f}x | "
          f"{statistics.median(l['whole'] for l, _ in rounds):.1f} | {statistics.median(r['whole'] for _, r in rounds):.1f} |")


def measured_run(
    args: argparse.Namespace, src: Path, out: Path, workers: int, cores: int, engine: str = "local",
) -> dict[str, float]:
    """One ``deid.run`` in a fresh process (this script with --one-run), as a user's run
    would start, on the first ``cores`` cores (0: all): its whole-run and steady images/s."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(Path(str(out) + ".report"), ignore_errors=True)
    command = [sys.executable, __file__, "--workers-config", str(args.workers_config),
               "--one-run", str(src), str(out), str(workers), str(cores), engine]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT)
    if done.returncode != 0:
        raise SystemExit(f"the run with --workers {workers} failed: {done.stderr[-500:]}")
    return json.loads(done.stdout.splitlines()[-1])


def one_run(src: Path, out: Path, config_path: Path, workers: int, engine: str = "local") -> dict[str, float]:
    sys.path.insert(0, str(PROJECT / "src"))
    import deid

    config = dataclasses.replace(deid.load_config(config_path), workers=workers, engine=engine)
    finished: list[float] = []
    started = time.monotonic()
    deid.run(src, out, config, progress=lambda *_: finished.append(time.monotonic()))
    wall = time.monotonic() - started
    first, last = int(len(finished) * STEADY_FROM), int(len(finished) * STEADY_TO)
    return {
        "files": len(finished),
        "whole": len(finished) / wall,
        "steady": (last - first) / (finished[last - 1] - finished[first - 1]),
    }


def deid(src: Path, out: Path, config: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "deid", "run", str(src), str(out), "--config", str(config), "--workers", str(workers)]


if __name__ == "__main__":
    main()

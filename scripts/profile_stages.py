"""Where one worker's time goes, stage by stage, under cProfile.

    python scripts/profile_stages.py [--sets caltech,wider,camera] [--config default]
        [--limit N] [--data ../shared/data]

Each set runs in this process, one file after another through ``deid.process.process_file``
(exactly what a worker does), with one inference thread, under cProfile. The table gives
each stage's share of the time spent on files (model loading excluded) from the
cumulative time of the functions that do it:

* decode, encode (re-encoding and reading back), write (temporary file, fsync, rename);
* CenterFace inference (``InferenceSession.run``), BlazeFace (its whole graph);
* resampling for scaled passes and crops, box grouping (the greedy loops), covering;
* other: what is left (heatmap decoding, Python around the model, hashing).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data"
SETS = {"caltech": "faces/caltech", "wider": "faces/wider", "wider_train": "faces/wider_train",
        "facemask": "faces/facemask", "camera": "photos/camera"}

# stage -> (file suffix, function name) pairs, alternatives: a stage's time is the largest
# cumulative time among them (the function that does it in this version, or in an earlier
# one, so that the script profiles either).
STAGES = {
    "decode": [("deid/decode.py", "decode")],
    "encode": [("deid/encode.py", "encode")],
    "write": [("deid/output.py", "write_atomic")],
    "CenterFace inference": [("deid/detect/centerface.py", "_run"), ("onnxruntime_inference_collection.py", "run")],
    "BlazeFace": [("deid/detect/blazeface.py", "detect")],
    "resampling": [("deid/detect/resample.py", "window"), ("deid/detect/multiscale.py", "scaled_window")],
    "box grouping": [("deid/boxes.py", "_greedy_groups")],
    "covering": [("deid/anonymize/base.py", "anonymize")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", default="caltech,wider,camera", help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--config", default="default", help="a preset name or a TOML file")
    parser.add_argument("--limit", type=int, default=0, help="at most this many files a set (0 = all)")
    args = parser.parse_args()
    from deid.config import load_config
    from deid.discover import IMAGE, discover
    from deid.process import Stages, WorkItem, process_file

    config = load_config(args.config)
    stages = Stages(config, threads=1)
    rows = []
    for name in args.sets.split(","):
        folder = args.data / SETS.get(name, name)
        if not folder.is_dir():
            sys.exit(f"{folder} is not a folder; give --data (the shared data folder)")
        sources = [s for s in discover(folder) if s.kind == IMAGE]
        if args.limit:
            sources = sources[: args.limit]
        profiler = cProfile.Profile()
        with tempfile.TemporaryDirectory(prefix="deid-profile-") as out:
            started = time.perf_counter()
            profiler.enable()
            for source in sources:
                process_file(WorkItem(source, str(source.relative)), Path(out), stages)
            profiler.disable()
            wall = time.perf_counter() - started
        rows.append((name, len(sources), wall, stage_times(pstats.Stats(profiler))))
    print(f"config: {args.config}; one worker, one inference thread; share of the time spent on files")
    print()
    print("| set | files | s/file | " + " | ".join(STAGES) + " | other |")
    print("|---|---:|---:|" + "---:|" * (len(STAGES) + 1))
    for name, count, wall, times in rows:
        total = sum(times.values())
        other = max(wall - total, 0.0)
        cells = [f"{100 * times[stage] / wall:.0f}%" for stage in STAGES]
        print(f"| {name} | {count} | {wall / max(count, 1):.3f} | " + " | ".join(cells) + f" | {100 * other / wall:.0f}% |")


def stage_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each stage: the largest among its functions. No stage's
    functions run inside another stage's."""
    times = {stage: 0.0 for stage in STAGES}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, functions in STAGES.items():
            if any(filename.endswith(suffix) and function == name for suffix, name in functions):
                times[stage] = max(times[stage], cumulative)
    return times


if __name__ == "__main__":
    main()

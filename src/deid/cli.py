"""Command line: parses options, makes one call into the library, reports, exits.

Exit codes: 0 every image processed, 1 some image failed, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from deid import __version__
from deid.anonymize import ANONYMIZERS
from deid.config import DEVICES, ENGINES, SHAPES, TEXT_POLICIES, Config, load_config
from deid.errors import DeidError, UsageError
from deid.extras import install_command
from deid.names import RENAME_MODES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """Reports arguments it does not know itself, with its own usage and the closest of its
    options. argparse hands a command's unknown arguments back to the top-level parser,
    whose usage names none of the command's options."""

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(unknown_arguments_message(extras, list(self._option_string_actions)))
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        # argparse checks for the missing command before it looks at unknown options, so
        # "deid --verison" would only be told that a command is required.
        unknown = [
            arg for arg in getattr(self, "_given", [])
            if arg.startswith("-") and arg.split("=", 1)[0] not in self._option_string_actions
        ]
        if unknown and "required" in message:
            message = unknown_arguments_message(unknown, list(self._option_string_actions))
        super().error(message)


def unknown_arguments_message(extras: list[str], options: list[str]) -> str:
    """argparse's message for ``extras``, and the known options closest to the mistyped ones."""
    import difflib

    guesses = [
        close[0] for extra in extras if extra.startswith("-")
        for close in [difflib.get_close_matches(extra.split("=", 1)[0], options, n=1)] if close
    ]
    message = f"unrecognized arguments: {' '.join(extras)}"
    return message + (f"; did you mean {', '.join(guesses)}?" if guesses else "")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine", choices=ENGINES,
        help=f"local: worker processes on this machine. ray: actors on a Ray cluster (needs the ray "
        f"extra: {_help_text(install_command('ray'))}; SRC, OUT and the report folder must be at the same "
        "path on every node). Default: local",
    )
    parser.add_argument(
        "--ray-address", metavar="ADDR",
        help="with --engine ray, the cluster to join: auto (the one started on this node with "
        "'ray start'), or HOST:PORT of its head. Default: a Ray instance started for the run "
        "on this machine",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deid",
        description=(
            "De-identify a folder of images: cover every detected face irreversibly, "
            "re-encode without any metadata, and report what was done to each file."
        ),
        epilog="Exit codes: 0 all images processed, 1 some image failed, 2 usage or config error.",
    )
    parser.add_argument("--version", action="version", version=f"deid {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="write a sanitized copy of an image folder and a report",
        description=(
            "Write a sanitized copy of SRC into OUT: same relative paths and formats, faces "
            "covered, no metadata. Files that are not images are listed as skipped and not "
            "copied. Images that cannot be processed completely are never written."
        ),
    )
    run.add_argument("src", metavar="SRC", type=Path,
                     help="folder of images (read only; searched recursively), or one image file")
    run.add_argument("out", metavar="OUT", type=Path, help="output folder; must not be inside SRC")
    run.add_argument(
        "--config", type=Path, metavar="TOML",
        help="config file, or the name of a preset: strict (slower, covers more), fast (not for "
        "crowds), default. Options below override it. Default: built-in defaults, the same as "
        "the default preset",
    )
    run.add_argument(
        "--report", type=Path, metavar="DIR",
        help="report folder (images.jsonl, summary.json). Default: OUT.report next to OUT. "
        "It names the original files, so it may not be inside OUT",
    )
    run.add_argument(
        "--mode", choices=list(ANONYMIZERS),
        help="how faces are covered. Default: solid (irreversible). pixelate and blur keep "
        "some of the face's structure, and trained models can still recognise people "
        "through them; noise is irreversible but draws the eye less than a black box",
    )
    run.add_argument(
        "--shape", choices=SHAPES,
        help="shape of the covered region. Default: box, which also covers the corners "
        "where hair and ears are; ellipse looks tidier but covers less",
    )
    run.add_argument(
        "--margin", type=float, metavar="F",
        help="grow each detected face box by F times its size on every side. Default: 0.35; "
        "smaller values leave hair and ears visible",
    )
    run.add_argument(
        "--threshold", type=float, metavar="S",
        help="detection score threshold for every detector (0-1). Default: 0.3; lower finds "
        "more faces at the cost of covering more non-faces",
    )
    run.add_argument(
        "--workers", type=int, metavar="N",
        help="parallel worker processes, each using one CPU core. Default: 0 = one per "
        "core this process may use (its CPU affinity and container quota); each worker "
        "loads its own models (about 300 MB), so lower it when memory is short. 1 runs "
        "in this process: simplest to debug, but a crash in native code then stops the "
        "run instead of failing one file",
    )
    run.add_argument(
        "--device", choices=DEVICES,
        help="where detectors run. Default: auto = a GPU when one is usable, else the CPU",
    )
    run.add_argument(
        "--jpeg-quality", type=int, metavar="Q",
        help="quality of re-encoded JPEG and WebP files, 1-100. Default: 95 (visually "
        "lossless, larger files)",
    )
    run.add_argument(
        "--rename", choices=RENAME_MODES,
        help="output file names. Default: keep (same relative paths; names may identify "
        "people). hash: every folder and file name becomes a keyed hash (key kept in the "
        "report folder, so names cannot be guessed from a list of likely names); "
        "sequential: 000001.jpg, 000002.png, ... in one folder. The original-to-new mapping "
        "is only in the report",
    )
    run.add_argument(
        "--overwrite", action="store_true",
        help="write into a non-empty OUT, replacing files of the same name. Default: refuse",
    )
    run.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run: same SRC, OUT and report folder; images already "
        "written from the same content with the same config are kept, the rest processed. A "
        "file whose size, modification time and inode are those recorded is trusted without "
        "reading it (see --rehash). Default: off (a non-empty OUT is refused)",
    )
    run.add_argument(
        "--corrections", type=Path, metavar="FILE",
        help="with --resume, apply a reviewer's corrections (the file the page of 'deid review' "
        "saves) to a finished run: the files it names are processed again, regions it drops or "
        "keeps are left uncovered, boxes it adds are covered, and each decision is recorded in "
        "images.jsonl. Default: none",
    )
    run.add_argument(
        "--keep-faces", type=Path, metavar="DIR",
        help="leave visible the faces of participants who agreed to be shown: DIR holds NAME.jpg "
        "(or NAME/ with several photos) for each. A face dlib's recogniser matches to one of them "
        "(distance under 0.45, clearly nearer than any other participant; faces of 40 px and "
        "more) is not covered, and is recorded with the participant and distance. A wrong match "
        "exposes a person who did not consent: check the kept faces. Needs deid[audit]. "
        "Default: every face is covered",
    )
    run.add_argument(
        "--rehash", action="store_true",
        help="with --resume, read every input and output again to check its content, instead of "
        "trusting an unchanged size, modification time and inode (slower: it reads the whole "
        "dataset twice). Default: off",
    )
    run.add_argument(
        "--text", choices=TEXT_POLICIES,
        help=f"cover text too (needs the text extra: {_help_text(install_command('text'))}): identifying = "
        "names, licence plates, phone numbers, e-mail addresses, handles, street addresses and long "
        "numbers; all = every text region (more covered, slower). Default: off (the strict preset: "
        "identifying)",
    )
    add_engine_options(run)
    run.add_argument(
        "--files-from", type=Path, metavar="LIST",
        help="process only the files named in LIST, one per line, relative to SRC (or absolute "
        "inside it). Default: every file under SRC",
    )
    run.add_argument(
        "--dry-run", action="store_true",
        help="list what would be done to each file (output name, or why it is skipped or "
        "would fail) and write nothing. Every image is read and decoded whole, as the run "
        "does, so that one the run would fail is listed (exit 1); on a large tree this takes "
        "a while",
    )
    run.add_argument(
        "--verify", action="store_true",
        help="when the run is done, audit OUT as 'deid verify OUT --source SRC' does and exit 1 "
        "if it finds anything. Default: off (verify is slower than the run itself)",
    )
    verify = commands.add_parser(
        "verify",
        help="audit a finished dataset: residual faces, residual metadata, re-identification",
        description=(
            "Read every image in OUT back and look for what should not be there: faces that "
            "detectors which took no part in anonymizing still find (dlib's CNN and HOG "
            "detectors, and the anonymizing ensemble in its strict settings), and privacy-"
            "relevant metadata. With --source, also count the covered faces a face recogniser "
            "still matches to their originals. Writes verify.json and refreshes index.html in "
            "the report folder. A clean result is evidence, not proof: it finds what its "
            "detectors find."
        ),
        epilog="Exit codes: 0 nothing residual found, 1 something found, 2 usage error.",
    )
    verify.add_argument("out", metavar="OUT", type=Path, help="output folder of a deid run")
    verify.add_argument(
        "--report", type=Path, metavar="DIR",
        help="report folder of the run, where verify.json is written. Default: OUT.report",
    )
    verify.add_argument(
        "--source", type=Path, metavar="SRC",
        help="the folder the run read: check whether covered faces can be re-identified "
        "(needs the run's report and the audit extra). Default: not checked",
    )
    verify.add_argument(
        "--sample", type=int, metavar="N",
        help="check N images drawn at random (the same N every time) instead of all: dlib's "
        "CNN takes about a second per photo on one core. Default: all",
    )
    verify.add_argument("--workers", type=int, metavar="N", help="worker processes. Default: one per usable core")
    verify.add_argument("--device", choices=DEVICES, help="where detectors run. Default: auto")
    add_engine_options(verify)
    review = commands.add_parser(
        "review",
        help="write a page to check each covered region against its original and save corrections",
        description=(
            "Write review.html into the report folder: each original beside its output, every "
            "covered region outlined and labelled, the images most in need of a look first "
            "(regions large for a face, with a low score or seen by one detector only, findings "
            "of deid verify), then failed files, then the rest. Click a region to mark it drop "
            "(not a face) or keep (a face that may stay visible), drag a rectangle to add a "
            "missed face, mark an image \"Looks right\", and save the decisions as a corrections "
            "file. The page shows the originals: it belongs with the report, never with the outputs."
        ),
    )
    review.add_argument("out", metavar="OUT", type=Path, help="output folder of a deid run")
    review.add_argument(
        "--source", type=Path, metavar="SRC",
        help="the folder the run read, whose originals the page shows. Default: outputs only",
    )
    review.add_argument(
        "--report", type=Path, metavar="DIR",
        help="report folder of the run, where review.html is written. Default: OUT.report",
    )
    evaluate = commands.add_parser(
        "eval",
        help="measure the protected-face rate on images with ground-truth face boxes",
        description=(
            "Run the real pipeline on IMAGES_DIR and score it against GT_JSON: a face counts "
            "as protected when the union of anonymized regions covers at least 80% of its "
            "box. Prints the rate overall and by face height, the regions that overlap no "
            "ground-truth face, and images/s; writes the same as JSON."
        ),
    )
    evaluate.add_argument("images_dir", metavar="IMAGES_DIR", type=Path, help="folder of images")
    evaluate.add_argument(
        "gt_json", metavar="GT_JSON", type=Path,
        help='ground truth: {"images": [{"image": PATH, "faces": [[x1, y1, x2, y2], ...]}]}, '
        "paths relative to the JSON file's folder; only images inside IMAGES_DIR are scored",
    )
    evaluate.add_argument("--config", type=Path, metavar="TOML", help="config file. Default: built-in defaults")
    evaluate.add_argument("--workers", type=int, metavar="N", help="worker processes. Default: the config's")
    evaluate.add_argument("--text", choices=TEXT_POLICIES, help="text covering policy. Default: the config's")
    evaluate.add_argument(
        "--out", "--json", type=Path, metavar="PATH", dest="json_out",
        help="write the result as JSON here: totals, rates by face height, and every face not "
        "protected (image, box, share covered). Default: not written (the table is printed)",
    )
    inspect = commands.add_parser(
        "inspect",
        help="show the privacy-relevant metadata of images",
        description=(
            "Print, per file, the privacy-relevant metadata found: GPS position, device "
            "make/model/serial, owner and artist, datetimes, software, embedded thumbnails "
            "with their sizes, XMP and IPTC fields. Given a folder, print a summary."
        ),
    )
    inspect.add_argument("paths", metavar="PATH", type=Path, nargs="+", help="image files or folders")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _help_text(text: str) -> str:
    # argparse expands % in help strings; a checkout's path may hold one.
    return text.replace("%", "%%")


def config_with_overrides(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    anonymize = config.anonymize
    for option, field in (("mode", "mode"), ("shape", "shape"), ("margin", "margin")):
        if getattr(args, option) is not None:
            anonymize = dataclasses.replace(anonymize, **{field: getattr(args, option)})
    detect = config.detect
    if args.threshold is not None:
        detect = dataclasses.replace(
            detect,
            detectors=tuple(dataclasses.replace(d, threshold=args.threshold) for d in detect.detectors),
        )
    output = config.output
    if args.jpeg_quality is not None:
        output = dataclasses.replace(output, jpeg_quality=args.jpeg_quality)
    if args.rename is not None:
        output = dataclasses.replace(output, rename=args.rename)
    text = config.text
    if getattr(args, "text", None) is not None:
        text = dataclasses.replace(text, policy=args.text)
    top = {k: getattr(args, k) for k in ("workers", "device", "engine", "ray_address") if getattr(args, k, None) is not None}
    return dataclasses.replace(config, anonymize=anonymize, detect=detect, output=output, text=text, **top)


def command_run(args: argparse.Namespace) -> int:
    import deid
    from deid.pipeline import counted

    config = config_with_overrides(args)
    if args.rehash and not args.resume:
        raise UsageError("--rehash checks what a resumed run keeps; use it with --resume")
    files = None
    if args.files_from is not None:
        try:
            text = args.files_from.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --files-from {args.files_from}: {exc.strerror or exc}") from None
        files = [line.strip() for line in text.splitlines() if line.strip()]
    if args.dry_run:
        from deid.pipeline import plan_run

        bar = _ProgressBar()
        try:
            plan = plan_run(
                args.src, config, files, progress=lambda done, total, failed: bar.update(done, total, None, failed),
                keep_faces=args.keep_faces,
            )
        finally:
            bar.close()
        for line in plan.lines:
            print(line)
        return EXIT_FAILED if plan.failed else EXIT_OK
    bar = _ProgressBar()
    try:
        summary = deid.run(args.src, args.out, config=config, report_dir=args.report,
                           overwrite=args.overwrite, progress=bar.update,
                           resume=args.resume, files=files, rehash=args.rehash, corrections=args.corrections,
                           keep_faces=args.keep_faces)
    finally:
        bar.close()
    counts = summary.counts
    print(
        f"{counts.inputs} files: {counts.ok} ok, {counts.failed} failed, "
        f"{counts.skipped} skipped; {counts.faces} faces covered"
        + (f", {counts.heads} heads covered where no face was seen" if counts.heads else "")
    )
    if counts.dropped or counts.kept_by_consent or counts.added:
        print(f"review: {counted(counts.dropped, 'region')} left uncovered as not a face, "
              f"{counted(counts.kept_by_consent, 'face')} left visible by consent, "
              f"{counted(counts.added, 'missed face')} covered")
    if summary.consent is not None:
        print(f"consent: {counted(counts.consent_matches, 'face')} left visible, matched to the photos of "
              f"{counted(summary.consent['participants'], 'participant')} (images.jsonl: decision \"consent\", "
              "with participant and distance)")
    resumed = summary.resume
    if resumed is not None:
        reasons = ", ".join(f"{count} {why}" for why, count in resumed.redone.items()) or "none"
        print(f"resume: kept {resumed.kept} files already done; processed {sum(resumed.redone.values())} "
              f"({reasons})")
    print(f"output: {summary.out_dir}")
    print(f"report: {summary.report_dir}")
    for warning in summary.warnings:
        print(f"deid: warning: {warning}", file=sys.stderr)
    failed = summary.failed_files
    for item in failed[:10]:
        # repr-style escapes keep a name with a newline on one line
        name = item.source.encode("unicode_escape").decode("ascii")
        print(f"deid: failed: {name}: {item.error}", file=sys.stderr)
    if len(failed) > 10:
        print(f"deid: ... and {len(failed) - 10} more failed files, listed in the report", file=sys.stderr)
    code = EXIT_FAILED if summary.exit_code else EXIT_OK
    if args.verify:
        result = _verify(args.out, summary.report_dir, args.src, None, device=config.device, workers=config.workers,
                         engine=config.engine, ray_address=config.ray_address, max_pixels=config.output.max_pixels)
        code = max(code, result)
    return code


def command_verify(args: argparse.Namespace) -> int:
    return _verify(
        args.out, args.report, args.source, args.sample, device=args.device or "auto", workers=args.workers or 0,
        engine=args.engine or "local", ray_address=args.ray_address or "",
    )


def _verify(out: Path, report: Path | None, source: Path | None, sample: int | None, **options: Any) -> int:
    """``options``: verify's device, workers, engine, ray_address and max_pixels."""
    from deid.verify import verify

    bar = _ProgressBar()
    try:
        result = verify(out, report, source, sample=sample, progress=lambda done, total: bar.update(done, total, None),
                        **options)
    finally:
        bar.close()
    from deid.verify import format_summary

    print(format_summary(result))
    return EXIT_FAILED if result.exit_code else EXIT_OK


# Off a terminal (a log file, a pipe, a batch job), a progress line this often.
PROGRESS_INTERVAL_S = 30.0
# A pause between two finished files longer than this ends the files a run records without
# processing them: those come microseconds apart from one loop, and the workers then take
# seconds to load their models before the first file they process comes back.
BURST_GAP_S = 0.05


class _Throughput:
    """Files per second, from the first file that came after a pause. The files a run
    records without processing them (skipped, or kept by --resume) come all at once before
    the workers have loaded their models; counting them, or the loading, from the start
    made the first rates a fraction of the real one and the time left several times too
    long."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None  # (time, files done) at the first file
        self._start: tuple[float, int] | None = None  # the same at the first after a pause
        self._latest = 0.0

    def update(self, now: float, done: int) -> None:
        if self._first is None:
            self._first = (now, done)
        elif self._start is None and now - self._latest > BURST_GAP_S:
            self._start = (now, done)
        self._latest = now

    def rate(self, now: float, done: int) -> float | None:
        """None until a file has finished after the one the rate counts from."""
        start = self._start
        if start is None and self._first is not None and self._latest - self._first[0] > BURST_GAP_S:
            # Files have kept coming without a pause (many workers, small images): a
            # steady stream from the first, with no burst to leave out.
            start = self._first
        if start is None or done <= start[1]:
            return None
        return (done - start[1]) / max(now - start[0], 1e-9)


def progress_line(done: int, total: int | None, failed: int, rate: float | None) -> str:
    """``total`` is None while the files are still being counted."""
    if rate is None:
        pace = "rate not known yet"
    elif total is None:
        pace = f"{rate:.1f} files/s, still counting the files"
    else:
        pace = f"{rate:.1f} files/s, about {(total - done) / rate:.0f} s left"
    return f"deid: {done}/{'?' if total is None else total} files, {failed} failed, {pace}"


class _ProgressBar:
    """A tqdm bar on a terminal; off a terminal (`> log`, `| tee`, a Slurm job), a line
    every PROGRESS_INTERVAL_S seconds: files done, failed, files/s, time left."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._bar = None
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._failed = 0
        self._throughput = _Throughput()

    def update(self, done: int, total: int | None, record: object, failed: int | None = None) -> None:
        """``record`` is the file's just done (a run counts its failures), or ``failed``
        the count so far (a dry run's)."""
        self._failed = failed if failed is not None else self._failed + (getattr(record, "status", None) == "failed")
        if not sys.stderr.isatty():
            now = self._clock()
            self._throughput.update(now, done)
            if now - self._last_line >= PROGRESS_INTERVAL_S or (done == total and now - self._started >= PROGRESS_INTERVAL_S):
                self._last_line = now
                print(progress_line(done, total, self._failed, self._throughput.rate(now, done)),
                      file=sys.stderr, flush=True)
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", file=sys.stderr)
        elif self._bar.total != total and total is not None:
            self._bar.total = total  # the count of files has just come in
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def command_review(args: argparse.Namespace) -> int:
    from deid.review import write_review_page

    page = write_review_page(args.out, args.source, args.report)
    print(f"review page: {page}")
    if args.source is not None:
        print("it shows the originals: keep it with the report, never with the outputs")
    return EXIT_OK


def command_eval(args: argparse.Namespace) -> int:
    import json

    from deid.evaluate import evaluate, format_table

    config = load_config(args.config)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    if args.text is not None:
        config = dataclasses.replace(config, text=dataclasses.replace(config.text, policy=args.text))
    result = evaluate(args.images_dir, args.gt_json, config)
    print(format_table(result))
    if args.json_out is None:
        print("(add --out RESULT.json to keep the per-face results)")
        return EXIT_OK
    try:
        args.json_out.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.json_out}: {exc.strerror or exc}; give another --out") from None
    print(f"written: {args.json_out}")
    return EXIT_OK


def command_inspect(args: argparse.Namespace) -> int:
    import json

    from deid.inspection import format_report, inspect_paths

    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]} does not exist; give image files or folders")
    result = inspect_paths(args.paths)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_report(result, folder_mode=any(p.is_dir() for p in args.paths)))
    return EXIT_FAILED if any("error" in f for f in result["files"]) else EXIT_OK


COMMANDS = {
    "run": command_run, "verify": command_verify, "review": command_review, "eval": command_eval,
    "inspect": command_inspect,
}


EXIT_TERMINATED = 128 + signal.SIGTERM


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    terminated = []

    def on_sigterm(signum: int, frame: object) -> None:
        # A batch scheduler's stop: ended like Ctrl-C (the workers are stopped, the
        # journal keeps what is done), then reported with the code of SIGTERM.
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"deid: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DeidError as exc:
        print(f"deid: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        stopped = "terminated" if terminated else "interrupted"
        if args.command == "run":
            advice = "files already written are complete. Run the same command with --resume to finish"
        else:
            advice = "it wrote no result. Run the same command again to start over"
        print(f"deid: {stopped}; {advice}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else 130
    finally:
        signal.signal(signal.SIGTERM, previous)

"""How often --keep-faces leaves the right face visible, and how often a stranger's.

    python scripts/consent_matches.py [--data ../shared/data] [--strangers 300]

The webcam close-ups of faces/facemask/ show two people many times, with and without a
mask (who is in which photo: scripts/webcam_people.json). One photo of each is enrolled as
--keep-faces does (deid.consent.enrol, with the default detectors). Every other photo goes
through the default detectors and deid.consent.ConsentMatcher, the rule a run applies:
a participant's face that stays visible is a **kept** face; a face left visible in a photo
that does not show that participant is a **wrong keep** (a person exposed).

Strangers: the 70 web photos of faces/facemask/ and the first ``--strangers`` caltech
photos, people other than the two. Every face found there that the matcher leaves
visible is a wrong keep. The script also prints each face's distance to the nearest
participant, for every face of 40 px and more, and a sweep of the distance threshold.

``--crowd N`` enrols N more participants (one face each from the last caltech photos)
and counts the strangers' faces kept again: with many participants each stranger has
many chances to fall near one.

Needs the audit extra (pip install 'deid[audit]').
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))

from deid.config import Config  # noqa: E402

SWEEP = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)


def load(path: Path) -> np.ndarray:
    from deid.decode import decode

    return decode(path.read_bytes(), Config().output.max_pixels).frames[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data",
                        help="the shared test data folder (default: ../shared/data)")
    parser.add_argument("--strangers", type=int, default=300,
                        help="caltech photos used as strangers, from the first (default: 300)")
    parser.add_argument("--crowd", type=int, default=0,
                        help="then enrol this many more participants, one face each from the last caltech "
                        "photos, and count again what is kept (default: 0, off)")
    args = parser.parse_args()
    webcam = args.data / "faces" / "facemask"
    if not webcam.is_dir():
        print(f"no {webcam}: give --data (the shared test data)", file=sys.stderr)
        return 2
    from deid.consent import KEEP_DISTANCE, KEEP_MIN_HEIGHT, ConsentMatcher, enrol
    from deid.detect.ensemble import FaceDetector

    labels = json.loads((PROJECT / "scripts" / "webcam_people.json").read_text())
    started = time.monotonic()
    detector = FaceDetector(Config().detect, "cpu")
    with tempfile.TemporaryDirectory() as folder:
        for person, photo in labels["enrolled"].items():
            (Path(folder) / f"{person}.jpg").write_bytes((webcam / photo).read_bytes())
        consent = enrol(folder, detector, Config().output.max_pixels)
    matcher = ConsentMatcher(consent)
    enrolled = set(labels["enrolled"].values())

    def look(path: Path) -> tuple[list[dict], list[float]]:
        pixels = load(path)
        found = detector.detect(pixels)
        _, decisions = matcher.split(pixels, found, 0)
        heights = found.xyxy[:, 3] - found.xyxy[:, 1]
        boxes = [list(map(float, b)) for b, h, k in zip(found.xyxy, heights, found.kinds) if h >= KEEP_MIN_HEIGHT and k == "face"]
        nearest = []
        if boxes:
            placed = matcher._recogniser.landmarks(pixels, boxes)
            embedded = np.asarray(matcher._recogniser.embed(pixels, [s for _, s in placed]))
            nearest = list(matcher._by_participant(embedded).min(axis=1))
        return decisions, nearest

    print("participants' photos (not the enrolled ones):")
    kept_right = kept_wrong = shown = 0
    own: list[float] = []
    for photo, people in sorted(labels["photos"].items()):
        if photo in enrolled:
            continue
        decisions, nearest = look(webcam / photo)
        kept = [d["participant"] for d in decisions]
        shown += len(people)
        kept_right += sum(1 for p in kept if p in people)
        kept_wrong += sum(1 for p in kept if p not in people)
        own += nearest
        listed = ", ".join(f"{d['participant']} {d['distance']:.3f}" for d in decisions) or "-"
        distances = ", ".join(f"{v:.3f}" for v in sorted(nearest)) or "-"
        print(f"  {photo:14s} shows {'+'.join(people) or 'unclear':10s} kept {listed:24s} nearest {distances}")
    strangers = sorted(webcam.glob("maksssksksss*"))
    strangers += sorted((args.data / "faces" / "caltech").glob("*.jpg"))[:args.strangers]
    stranger_nearest: list[float] = []
    stranger_kept = 0
    for path in strangers:
        decisions, nearest = look(path)
        stranger_kept += len(decisions)
        stranger_nearest += nearest
    far = np.asarray(stranger_nearest)
    print()
    print(f"participants: {kept_right} of {shown} appearances kept, {kept_wrong} kept as the wrong participant")
    print(f"strangers: {len(far)} faces of {KEEP_MIN_HEIGHT} px and more in {len(strangers)} photos; "
          f"{stranger_kept} kept (wrong keeps); nearest to a participant {far.min():.3f}, "
          f"1st percentile {np.quantile(far, 0.01):.3f}, median {np.median(far):.3f}")
    print()
    print("threshold sweep (distance rule alone; the margins only remove more):")
    print("| threshold | strangers' faces under it | faces in the participants' photos under it |")
    print("|---:|---:|---:|")
    for threshold in SWEEP:
        mark = " (KEEP_DISTANCE)" if abs(threshold - KEEP_DISTANCE) < 1e-9 else ""
        print(f"| {threshold:.2f}{mark} | {(far < threshold).sum()} of {len(far)} | "
              f"{sum(v < threshold for v in own)} of {len(own)} |")
    if args.crowd:
        crowd_check(args, consent, detector, labels, strangers, look_with=lambda m: look_with(m, detector))
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


def look_with(matcher, detector):
    def look(path: Path) -> list[dict]:
        pixels = load(path)
        return matcher.split(pixels, detector.detect(pixels), 0)[1]

    return look


def crowd_check(args, consent, detector, labels, strangers, look_with) -> None:
    """With many participants each stranger has many chances to fall near one: enrol
    ``--crowd`` caltech faces (people other than the strangers: caltech photos from the
    end of the list) beside the two, and count the strangers' faces kept again."""
    from deid.consent import ConsentList, ConsentMatcher, _participant_face
    from deid.errors import UsageError

    caltech = sorted((args.data / "faces" / "caltech").glob("*.jpg"))
    pool = caltech[max(args.strangers, len(caltech) - 3 * args.crowd):][::-1]
    recogniser = ConsentMatcher(consent)._recogniser
    photos, names, rows = list(consent.photos), list(consent.participants), list(consent.embeddings)
    enrolled = 0
    for path in pool:
        if enrolled == args.crowd:
            break
        pixels = load(path)
        try:
            box = _participant_face(detector.detect(pixels), path.name)
        except UsageError:
            continue  # no clear single face: not a photo a participant would give
        (_, shape), = recogniser.landmarks(pixels, [box])
        rows.append(tuple(float(v) for v in recogniser.embed(pixels, [shape])[0]))
        photos.append(path.name)
        names.append(path.stem)
        enrolled += 1
    crowd = ConsentList(consent.folder, tuple(photos), tuple(names), tuple(rows))
    look = look_with(ConsentMatcher(crowd))
    webcam = args.data / "faces" / "facemask"
    kept_right = sum(
        1 for photo, people in labels["photos"].items() if photo not in labels["enrolled"].values()
        for d in look(webcam / photo) if d["participant"] in people
    )
    wrong = [d for path in strangers for d in look(path)]
    print()
    print(f"with {enrolled + 2} participants ({enrolled} caltech faces enrolled besides the two): "
          f"{len(wrong)} strangers' faces kept (wrong keeps), {kept_right} appearances of the two kept")
    for d in wrong:
        print(f"  wrong keep: {d['participant']} at {d['distance']:.3f}")


if __name__ == "__main__":
    sys.exit(main())

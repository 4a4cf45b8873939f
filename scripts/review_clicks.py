"""What a review of 20 photos with 5 corrections costs a person, and how fast the page answers.

    python scripts/review_clicks.py [--photos DIR]

Copies the first 20 photos of DIR (sorted by name; default ../shared/data/photos/camera,
full-size phone and camera photos; when that folder is absent, 20 crops of sample_data
made by bench_scale.make_photos, and it says so) into a scratch folder, runs
`deid run SRC OUT` and `deid review OUT --source SRC`, and opens review.html in headless
Chromium driven by selenium (as tests/test_review.py does). It then plays the review a
person would: every image, page by page (the page's own page size), scrolled into view
with the mouse wheel when it is not, and exactly five corrections made with real mouse
input: two regions dropped (one click each), one kept (two clicks: drop, then keep), two
missed faces drawn (a drag on the original). Which regions and images get them is a rule,
not a judgement, as the benchmark measures effort and not the reviewer's eye: the two
lowest-scored face regions (in two images) are dropped, the highest-scored one in another
image is kept, and the boxes are drawn on the first images, in page order, with room for a
box that touches no region (images with no region first). Only regions at least
MIN_TARGET_PX on screen are clicked, as a person would not aim at a smaller one.
"Save corrections" downloads the file, and `deid run SRC OUT --resume --corrections FILE`
applies it: it must exit 0 and record the five decisions in images.jsonl.

Measured and printed as a table:
- the user's actions by kind: clicks, drags, page turns, wheel scrolls;
- the browser's response to each: from the input event (its timestamp, read in the page)
  to the moment the DOM shows the result (a MutationObserver, scroll and load listeners
  and an animation-frame poll check for it), and to the next frame after that; for a
  scroll, the result is the image in view with both its pictures loaded;
- a person's time by the Keystroke-Level Model (Card, Moran & Newell 1980): a look at each
  image, then per correction M (decide) + P (point) + B (press and release) as its input
  needs, the apply command typed (K per key) and the measured waits (the page opening,
  the apply command), against a budget of two minutes;
- the apply command's wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "scripts"))

from bench_scale import make_photos  # noqa: E402  (a sibling script)

DEFAULT_PHOTOS = PROJECT.parent / "shared" / "data" / "photos" / "camera"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
PHOTOS = 20
DROPS, KEEPS, ADDS = 2, 1, 2
# The tests' browser window (tests/conftest.py), a laptop screen.
WINDOW = (1280, 1000)

# Keystroke-Level Model operators, Card, Moran & Newell, "The keystroke-level model for
# user performance time with interactive systems", CACM 23(7), 1980.
P_S = 1.1  # point at a target with the mouse
B_S = 0.1  # press or release a mouse button (a click is 2 B)
M_S = 1.35  # mental preparation, before each decision
K_S = 0.28  # one keystroke of an average non-secretary typist (40 words per minute)
# A look at one image pair with nothing to correct. An assumption, not a measurement: a
# scene's gist is taken in about 0.1 s (Potter 1976), but checking that every outlined
# region is a face and no face is left bare takes fixations of about 0.3 s each in scene
# viewing (Rayner 1998); six of them for the original, its output and their regions.
LOOK_S = 2.0
# A wheel scroll that brings the next image into view. KLM has no wheel operator; it is
# counted as one P, being aimed at a target on screen as pointing is.
SCROLL_S = P_S
# Regions smaller than this on screen (px, their shorter side) are not clicked: KLM's P
# holds for targets of ordinary size (Fitts's law: a smaller one takes longer to hit).
MIN_TARGET_PX = 16
# A drawn box is this share of the image's width and height: a face in a half-length shot.
ADD_SHARE = 0.2
# Places tried for it along each side of the image.
ADD_GRID = 5
# The target: a batch of 20 photos reviewed, corrected and the corrections applied in two
# minutes, the page and the command together.
BUDGET_S = 120.0
# The apply command as a person types it, with short folder names, and Enter.
APPLY_TYPED = "deid run photos/ clean/ --resume --corrections corrections.json\n"
# Space left between the sticky bar and an image scrolled into view (px).
SCROLL_MARGIN_PX = 8
# How long to wait for the page to answer an action, or the browser to save the file.
RESPONSE_WAIT_S = 30.0
DOWNLOAD_WAIT_S = 10.0

# Installed once in the page: times an action from its input event to the DOM showing it.
PROBE_JS = """
var p = window.reviewProbe = {armed: false, startOn: null, start: null, end: null, frame: null, check: null};
function mark() {
  if (!p.armed || p.start === null || p.end !== null || !p.check()) { return; }
  p.end = performance.now();
  requestAnimationFrame(function () { p.frame = performance.now(); });
}
function started(e) {
  if (!p.armed || p.start !== null || e.type !== p.startOn) { return; }
  var now = performance.now();
  p.start = e.timeStamp > 0 && e.timeStamp <= now ? e.timeStamp : now;
  Promise.resolve().then(mark);
}
["click", "mouseup", "wheel"].forEach(function (type) { window.addEventListener(type, started, true); });
window.addEventListener("scroll", mark, true);
document.addEventListener("load", mark, true);
new MutationObserver(mark).observe(document.body,
  {subtree: true, childList: true, attributes: true, characterData: true});
p.arm = function (startOn, check) {
  p.armed = true; p.startOn = startOn; p.check = check; p.start = p.end = p.frame = null;
  (function poll() { mark(); if (p.armed && p.end === null) { requestAnimationFrame(poll); } })();
};
"""
# Whether an item's pictures are in view (below the sticky bar) and loaded.
IN_VIEW_JS = """
function itemInView(n, margin) {
  var pair = document.querySelector("#item-" + n + " .pair");
  if (!pair) { return true; }
  var top = document.querySelector(".bar").getBoundingClientRect().bottom;
  var r = pair.getBoundingClientRect();
  var images = Array.prototype.slice.call(pair.querySelectorAll("img"));
  var loaded = images.every(function (i) { return i.complete && i.naturalWidth > 0; });
  return r.top >= top - 2 && (r.bottom <= window.innerHeight + 2 || r.top <= top + margin + 2) && loaded;
}
"""


@dataclass
class Action:
    kind: str  # click, drag, scroll, page turn
    step: str  # the KLM step it belongs to
    dom_ms: float  # input event to the DOM showing the result
    frame_ms: float  # input event to the next frame after that


@dataclass
class Plan:
    """Which corrections go where: region indexes to click by item, boxes to draw by item."""
    drops: dict[int, int] = field(default_factory=dict)
    keeps: dict[int, int] = field(default_factory=dict)
    adds: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class Played:
    """A review played in the browser."""
    actions: list[Action]
    plan: Plan
    saved: dict[str, Any]  # the corrections file the page saved
    items: dict[int, dict[str, Any]]  # the page's images by their ``n``
    opened_s: float  # until the page showed its first images
    page_size: int
    pages: int
    viewport: tuple[int, int]


def pick_photos(folder: Path | None, scratch: Path) -> tuple[Path, str]:
    """A folder of PHOTOS photos to run on, and a line saying where they come from."""
    src = scratch / "photos"
    src.mkdir()
    chosen = folder if folder is not None else DEFAULT_PHOTOS
    if chosen.is_dir():
        files = sorted(p for p in chosen.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)[:PHOTOS]
        if files:
            for path in files:
                shutil.copy2(path, src / path.name)
            return src, f"photos: the first {len(files)} of {chosen}" + (
                f" (fewer than {PHOTOS})" if len(files) < PHOTOS else "")
    if folder is not None:
        raise SystemExit(f"--photos {folder} is not a folder of photos; give one that holds photos")
    make_photos(src, PHOTOS)
    return src, (f"photos: {DEFAULT_PHOTOS} not found; using {PHOTOS} crops of sample_data "
                 "(bench_scale.make_photos), small photos that each show a face")


def deid(*args: str | Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "deid", *map(str, args)], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    return time.monotonic() - started, result


def open_browser(downloads: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        raise SystemExit("chromedriver not found; install chromium and chromium-driver (Debian) and selenium")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def contains(outer: list[float], x: float, y: float) -> bool:
    return outer[0] <= x <= outer[2] and outer[1] <= y <= outer[3]


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def clickable_regions(item: dict[str, Any], scale: float) -> list[tuple[float, int]]:
    """(score, index) of the item's face regions a person can click: large enough on screen,
    and their centre not under a region drawn after them (the later one gets the click)."""
    found = []
    for index, region in enumerate(item.get("regions", [])):
        x1, y1, x2, y2 = region["region"]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        covered = any(contains(later["region"], cx, cy) for later in item["regions"][index + 1:])
        if not region["text"] and min(x2 - x1, y2 - y1) * scale >= MIN_TARGET_PX and not covered:
            found.append((region["score"], index))
    return found


def room_for_a_box(item: dict[str, Any]) -> list[int] | None:
    """A box of ADD_SHARE of the image that touches no region, nearest the centre."""
    w, h = int(item["w"] * ADD_SHARE), int(item["h"] * ADD_SHARE)
    places = [(int(x1), int(y1)) for x1 in (i * (item["w"] - w) / (ADD_GRID - 1) for i in range(ADD_GRID))
              for y1 in (i * (item["h"] - h) / (ADD_GRID - 1) for i in range(ADD_GRID))]
    places.sort(key=lambda p: abs(p[0] + w / 2 - item["w"] / 2) + abs(p[1] + h / 2 - item["h"] / 2))
    for x1, y1 in places:
        box = [x1, y1, x1 + w, y1 + h]
        if not any(overlaps(box, region["region"]) for region in item.get("regions", [])):
            return box
    return None


def plan_corrections(items: list[dict[str, Any]], scale: Callable[[dict[str, Any]], float]) -> Plan:
    shown = [it for it in items if it["status"] == "ok" and it.get("originalSrc")]
    candidates = sorted((score, it["n"], index) for it in shown for score, index in clickable_regions(it, scale(it)))
    plan = Plan()
    for _, n, index in candidates:
        if len(plan.drops) < DROPS and n not in plan.drops:
            plan.drops[n] = index
    for _, n, index in reversed(candidates):
        if len(plan.keeps) < KEEPS and n not in plan.drops and n not in plan.keeps:
            plan.keeps[n] = index
    for it in sorted(shown, key=lambda it: bool(it["regions"])):
        box = room_for_a_box(it) if it["n"] not in plan.drops and it["n"] not in plan.keeps else None
        if box is not None and len(plan.adds) < ADDS:
            plan.adds[it["n"]] = box
    if (len(plan.drops), len(plan.keeps), len(plan.adds)) != (DROPS, KEEPS, ADDS):
        raise SystemExit(f"these photos leave room for {len(plan.drops)} drops, {len(plan.keeps)} keeps and "
                         f"{len(plan.adds)} drawn boxes, not {DROPS}, {KEEPS} and {ADDS}; give other --photos")
    return plan


class Reviewer:
    """Plays the review in the browser, one timed action at a time."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.actions: list[Action] = []

    def act(self, kind: str, step: str, start_on: str, check: str, perform: Callable[[], None]) -> None:
        """Arm the probe for an input event of type ``start_on`` and the DOM test ``check``
        (a JavaScript expression), perform the action, and record its response times."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.execute_script(IN_VIEW_JS + f"window.reviewProbe.arm({json.dumps(start_on)}, "
                                   f"function () {{ return {check}; }});")
        perform()
        times = WebDriverWait(self.driver, RESPONSE_WAIT_S, poll_frequency=0.005).until(
            lambda d: d.execute_script(
                "var p = window.reviewProbe; return p.frame === null ? null : [p.start, p.end, p.frame];"),
            f"the page did not answer a {kind} ({step}) in {RESPONSE_WAIT_S:.0f} s",
        )
        self.driver.execute_script("window.reviewProbe.armed = false;")
        start, end, frame = times
        self.actions.append(Action(kind, step, end - start, frame - start))

    def chains(self) -> Any:
        from selenium.webdriver.common.action_chains import ActionChains

        return ActionChains(self.driver)

    def bring_into_view(self, n: int) -> None:
        from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

        if self.driver.execute_script(IN_VIEW_JS + f"return itemInView({n}, {SCROLL_MARGIN_PX});"):
            return
        # To just under the bar as it is once stuck to the top of the window (it is, past
        # the page's first lines).
        dy, x, y = self.driver.execute_script(
            f'var pair = document.querySelector("#item-{n} .pair");'
            'var bar = document.querySelector(".bar").getBoundingClientRect().height;'
            f'return [Math.round(pair.getBoundingClientRect().top - bar - {SCROLL_MARGIN_PX}),'
            ' Math.floor(window.innerWidth / 2), Math.floor(window.innerHeight / 2)];'
        )
        self.act("scroll", "scroll an image into view", "wheel", f"itemInView({n}, {SCROLL_MARGIN_PX})",
                 lambda: self.chains().scroll_from_origin(ScrollOrigin.from_viewport(x, y), 0, dy).perform())

    def region(self, n: int, index: int) -> Any:
        return self.driver.find_element(
            "css selector", f'#item-{n} .pair figure:first-child svg rect.region[data-region="{index}"]')

    def drop(self, n: int, index: int) -> None:
        rect = self.region(n, index)
        self.act("click", "drop a region (click)", "click", region_is(n, index, "drop"),
                 lambda: self.chains().move_to_element(rect).click().perform())

    def keep(self, n: int, index: int) -> None:
        rect = self.region(n, index)
        self.act("click", "keep a face (two clicks)", "click", region_is(n, index, "drop"),
                 lambda: self.chains().move_to_element(rect).click().perform())
        # The second click where the pointer already is: the region is drawn anew in place.
        self.act("click", "keep a face (two clicks)", "click", region_is(n, index, "keep"),
                 lambda: self.chains().click().perform())

    def add(self, n: int, box: list[int], width: int, height: int) -> None:
        svg = self.driver.find_element("css selector", f"#item-{n} .pair figure:first-child svg")
        scale = svg.size["width"] / width
        x1, y1 = (box[0] - width / 2) * scale, (box[1] - height / 2) * scale
        half_w, half_h = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
        drawn = len(svg.find_elements("css selector", "rect.added"))
        check = f'document.querySelectorAll("#item-{n} .pair figure:first-child svg rect.added").length === {drawn + 1}'
        self.act("drag", "add a missed face (drag)", "mouseup", check,
                 lambda: self.chains().move_to_element_with_offset(svg, int(x1), int(y1)).click_and_hold()
                 .move_by_offset(int(half_w), int(half_h)).move_by_offset(int(half_w), int(half_h)).release().perform())

    def turn_page(self, number: int, pages: int) -> None:
        button = self.driver.find_element("id", "next")
        self.act("page turn", "turn the page", "click",
                 f'document.getElementById("page-info").textContent === "page {number} of {pages}"',
                 lambda: self.chains().move_to_element(button).click().perform())

    def save(self) -> None:
        button = self.driver.find_element("id", "save")
        self.act("click", "save the corrections (click)", "click",
                 'document.getElementById("decisions").textContent.indexOf("saved") >= 0',
                 lambda: self.chains().move_to_element(button).click().perform())


def region_is(n: int, index: int, state: str) -> str:
    """A JavaScript test: the item's region ``index`` is drawn as ``state`` on the original."""
    rect = f'#item-{n} .pair figure:first-child svg rect.region[data-region="{index}"]'
    return (f"(function (r) {{ return !!r && r.classList.contains({json.dumps(state)}); }})"
            f"(document.querySelector({json.dumps(rect)}))")


def saved_file(folder: Path) -> dict[str, Any]:
    path = folder / "corrections.json"
    deadline = time.monotonic() + DOWNLOAD_WAIT_S
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not path.is_file():
        raise SystemExit(f"the page saved no corrections.json in {DOWNLOAD_WAIT_S:.0f} s")
    return json.loads(path.read_text(encoding="utf-8"))


def play_review(page: Path, downloads: Path) -> Played:
    """Open ``page``, go through every image and make the planned corrections, then save."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = open_browser(downloads)
    try:
        started = time.monotonic()
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, RESPONSE_WAIT_S, poll_frequency=0.01).until(
            lambda d: d.find_elements("css selector", "#items .item"))
        opened = time.monotonic() - started
        driver.execute_script(PROBE_JS)
        data = json.loads(driver.execute_script('return document.getElementById("review-data").textContent;'))
        page_size, items = data["pageSize"], data["items"]
        pages = max(1, -(-len(items) // page_size))
        if len(driver.find_elements("css selector", "#items .item")) != min(page_size, len(items)):
            raise SystemExit(f"the first page does not show {min(page_size, len(items))} images")
        column = driver.execute_script(
            'var pic = document.querySelector("#items .pair figure:first-child .pic");'
            " return pic ? pic.getBoundingClientRect().width : 0;")
        plan = plan_corrections(items, lambda it: column / it["w"])
        reviewer = Reviewer(driver)
        for number in range(1, pages + 1):
            if number > 1:
                reviewer.turn_page(number, pages)
            for it in items[(number - 1) * page_size:number * page_size]:
                reviewer.bring_into_view(it["n"])
                if it["n"] in plan.drops:
                    reviewer.drop(it["n"], plan.drops[it["n"]])
                if it["n"] in plan.keeps:
                    reviewer.keep(it["n"], plan.keeps[it["n"]])
                if it["n"] in plan.adds:
                    reviewer.add(it["n"], plan.adds[it["n"]], it["w"], it["h"])
        reviewer.save()
        saved = saved_file(downloads)
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        if errors:
            raise SystemExit(f"the page logged errors: {errors[:3]}")
        viewport = driver.execute_script("return [window.innerWidth, window.innerHeight];")
        return Played(reviewer.actions, plan, saved, {it["n"]: it for it in items}, opened, page_size, pages,
                      tuple(viewport))
    finally:
        driver.quit()


def check_applied(report: Path, items: dict[int, dict[str, Any]], plan: Plan) -> list[str]:
    """What is wrong with the decisions recorded in images.jsonl; empty when all five are there."""
    expected = {}
    for name, chosen in (("drop", plan.drops), ("keep", plan.keeps), ("add", plan.adds)):
        for n in chosen:
            expected.setdefault(items[n]["source"], []).append(name)
    problems = []
    for line in (report / "images.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        decisions = record.get("decisions") or []
        want = sorted(expected.pop(record.get("source"), []))
        if sorted(d["decision"] for d in decisions) != want:
            problems.append(f"{record.get('source')}: decisions {[d['decision'] for d in decisions]}, not {want}")
        problems += [f"{record['source']}: the {d['decision']} box named no detection"
                     for d in decisions if d["decision"] in ("drop", "keep") and d["matched"] < 1]
    problems += [f"{source}: no record" for source in expected]
    return problems


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} / {max(values):6.1f}" if values else f"{'-':>6} / {'-':>6}"


def print_table(played: Played, apply_s: float) -> float:
    """Print the actions by kind and the table of steps; return a person's total seconds."""
    actions = played.actions
    by_kind = {kind: sum(1 for a in actions if a.kind == kind) for kind in ("click", "drag", "page turn", "scroll")}
    print("user actions: " + ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in by_kind.items()))
    click = M_S + P_S + 2 * B_S
    steps = [
        # step, times done (None: as many as the inputs recorded), KLM operators, seconds each
        ("look at an image", len(played.items), "LOOK", LOOK_S),
        ("scroll an image into view", None, "P", SCROLL_S),
        ("drop a region (click)", DROPS, "M P BB", click),
        ("keep a face (two clicks)", KEEPS, "M P BB BB", click + 2 * B_S),
        ("add a missed face (drag)", ADDS, "M P B P B", M_S + 2 * P_S + 2 * B_S),
        ("turn the page", played.pages - 1, "M P BB", click),
        ("save the corrections (click)", 1, "M P BB", click),
    ]
    print()
    print(f"{'step':<30} {'done':>4}  {'KLM':<10} {'each s':>6} {'total s':>8}   "
          "browser response ms, median / max: DOM shows it | next frame")
    page_total = 0.0
    for step, done, operators, each in steps:
        timed = [a for a in actions if a.step == step]
        count = done if done is not None else len(timed)
        page_total += count * each
        inputs = f"  ({len(timed)} inputs)" if timed and len(timed) != count else ""
        print(f"{step:<30} {count:>4}  {operators:<10} {each:>6.2f} {count * each:>8.1f}   "
              f"{ms([a.dom_ms for a in timed])} | {ms([a.frame_ms for a in timed])}{inputs}")
    typed = M_S + K_S * len(APPLY_TYPED)
    rows = [
        ("review in the page", "", "", None, page_total),
        ("wait: the page opens", 1, "measured", played.opened_s, played.opened_s),
        ("type the apply command", 1, f"M {len(APPLY_TYPED)}K", typed, typed),
        ("wait: the apply command runs", 1, "measured", apply_s, apply_s),
    ]
    for step, count, operators, each, subtotal in rows:
        shown = f"{each:>6.2f}" if each is not None else f"{'':>6}"
        print(f"{step:<30} {count:>4}  {operators:<10} {shown} {subtotal:>8.1f}")
    total = page_total + played.opened_s + typed + apply_s
    print(f"{'total':<30} {'':>4}  {'':<10} {'':>6} {total:>8.1f}   "
          f"under {BUDGET_S / 60:.0f} minutes: {'yes' if total < BUDGET_S else 'no'}")
    print()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help=f"folder of photos; the first {PHOTOS} by name are reviewed "
                        f"(default: ../shared/data/photos/camera, else {PHOTOS} crops of sample_data)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deid-review-") as scratch_name:
        scratch = Path(scratch_name)
        src, origin = pick_photos(args.photos, scratch)
        print(origin)
        out, report, downloads = scratch / "clean", scratch / "clean.report", scratch / "downloads"
        downloads.mkdir()
        run_s, result = deid("run", src, out)
        if result.returncode != 0:
            raise SystemExit(f"deid run failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        print(f"deid run: {run_s:.1f} s; {result.stdout.splitlines()[0]}")
        review_s, result = deid("review", out, "--source", src)
        if result.returncode != 0:
            raise SystemExit(f"deid review failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        print(f"deid review: {review_s:.1f} s")

        played = play_review(report / "review.html", downloads)
        written = sum(len(f["drop"]) + len(f["keep"]) + len(f["add"]) for f in played.saved["files"])
        print(f"review.html in headless Chromium, viewport {played.viewport[0]} x {played.viewport[1]}: "
              f"{len(played.items)} images, {played.page_size} to a page, {played.pages} page(s); opened in "
              f"{played.opened_s:.2f} s; saved {written} decisions in {len(played.saved['files'])} files")

        apply_s, result = deid("run", src, out, "--resume", "--corrections", downloads / "corrections.json")
        if result.returncode != 0:
            problems = [f"the apply command exited {result.returncode}: {result.stderr.strip()[-300:]}"]
        else:
            problems = check_applied(report, played.items, played.plan)
        if written != DROPS + KEEPS + ADDS:
            problems.append(f"the saved file holds {written} decisions, not {DROPS + KEEPS + ADDS}")
        for line in result.stdout.splitlines():
            if line.startswith(("review:", "resume:")):
                print(f"apply: {line}")

        print_table(played, apply_s)
        print(f"apply: `deid run SRC OUT --resume --corrections FILE` {apply_s:.1f} s, exit {result.returncode}; "
              + ("the 5 decisions are in images.jsonl" if not problems else "FAILED"))
        for problem in problems:
            print(f"FAILED: {problem}")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

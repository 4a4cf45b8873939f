"""A batch job that can be trusted: killed runs resume to the same result, hostile files
are reported without harming the run, a dying worker takes no other file with it, and a
full disk leaves no partial file."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from deid.config import load_config
from deid.discover import IMAGE, discover
from deid.pipeline import plan_outputs, run
from deid.report import read_records
from deid.engine import build_engine, run_job
from deid.process import FileJob

from conftest import PRESETS, SAMPLE_DATA, load_pixels, run_cli
from dying_worker import DyingJob

FAST = PRESETS / "fast.toml"
PHOTOS = ["astronaut.jpg", "astronaut_portrait.png", "people/grace_hopper.jpg"]


def copy_photos(dst: Path, copies: int) -> list[str]:
    """``copies`` copies of each sample photo in two subfolders; their relative paths."""
    names = []
    for index in range(copies):
        for photo in PHOTOS:
            relative = f"{'ab'[index % 2]}/{index:02d}_{Path(photo).name}"
            (dst / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLE_DATA / photo, dst / relative)
            names.append(relative)
    return names


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def journal_lines(report: Path) -> int:
    try:
        return (report / "journal.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_run_killed_part_way_and_resumed_equals_an_uninterrupted_run(tmp_path):
    src = tmp_path / "src"
    names = copy_photos(src, 6)
    full = run_cli("run", src, tmp_path / "full", "--workers", "2", "--config", FAST)
    assert full.returncode == 0, full.stderr

    out, report = tmp_path / "out", tmp_path / "out.report"
    command = [sys.executable, "-m", "deid", "run", src, out, "--workers", "2", "--config", FAST]
    # Its own process group, so the kill takes the workers too, as a job scheduler's does.
    job = subprocess.Popen(list(map(str, command)), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while journal_lines(report) < 4:
        assert job.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    done_when_killed = journal_lines(report)
    assert done_when_killed < len(names), "the run had finished; kill it earlier"
    assert not (report / "summary.json").exists()
    for path in out.rglob("*"):
        if path.is_file() and not path.name.startswith(".deid-"):
            load_pixels(path)  # every file under its final name is whole

    resumed = run_cli("run", src, out, "--resume", "--workers", "2", "--config", FAST)
    assert resumed.returncode == 0, resumed.stderr
    assert files_under(out) == files_under(tmp_path / "full")
    assert read_records(report) == read_records(tmp_path / "full.report")
    summary = json.loads((report / "summary.json").read_text())
    full_summary = json.loads((tmp_path / "full.report" / "summary.json").read_text())
    assert summary["counts"] == full_summary["counts"]
    # Only what was left was processed again.
    assert done_when_killed - 1 <= summary["resumed"] < len(names)


def test_resume_redoes_a_changed_input_and_everything_after_a_config_change(tmp_path):
    src = tmp_path / "src"
    copy_photos(src, 1)
    out, report = tmp_path / "out", tmp_path / "out.report"
    config = load_config(FAST)
    run(src, out, config)
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "a" / "00_grace_hopper.jpg")
    summary = run(src, out, config, resume=True)
    assert summary.resumed == 2
    records = {r["source"]: r for r in read_records(report)}
    assert records["a/00_grace_hopper.jpg"]["width"] == Image.open(SAMPLE_DATA / "astronaut.jpg").width
    changed = load_config(PRESETS / "default.toml")
    assert run(src, out, changed, resume=True).resumed == 0


def _png_bomb(side: int) -> bytes:
    """A valid PNG header for a side x side greyscale image with a few compressed rows:
    a few hundred bytes that would decode to gigapixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\x00" * (side + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def hostile_tree(tmp_path):
    """SRC with good photos, odd but valid images, and hostile files; the expected status
    and a word of the reason of each hostile one."""
    src, outside = tmp_path / "src", tmp_path / "outside"
    src.mkdir()
    outside.mkdir()
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", outside / "secret.jpg")
    good = copy_photos(src, 1)
    photo = Image.open(SAMPLE_DATA / "people" / "grace_hopper.jpg").convert("RGB")
    for name in ("with space.jpg", "new\nline.jpg", os.fsdecode(b"caf\xe9-latin1.jpg")):
        shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / name)
        good.append(name)
    shutil.copy(SAMPLE_DATA / "astronaut_portrait.png", src / "png_named.jpg")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(src / "one_pixel.png")
    Image.new("RGB", (6000, 2), (90, 90, 90)).save(src / "wide_strip.png")
    Image.new("L", (3, 5000), 128).save(src / "tall_strip.gif")
    good += ["png_named.jpg", "one_pixel.png", "wide_strip.png", "tall_strip.gif"]

    bad: dict[str, tuple[str, str]] = {}
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp")):
        data = _encoded(photo, fmt)
        (src / f"truncated.{ext}").write_bytes(data[: len(data) * 2 // 3])
        bad[f"truncated.{ext}"] = ("failed", "decodable" if fmt == "WEBP" else "truncated")
    (src / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = ("failed", "empty")
    (src / "bomb.png").write_bytes(_png_bomb(60_000))
    bad["bomb.png"] = ("failed", "bomb")
    (src / "letter.png").write_text("Not a picture.\n")
    bad["letter.png"] = ("failed", "not a recognised image")
    (src / "link.jpg").symlink_to(outside / "secret.jpg")
    (src / "linked_folder").symlink_to(outside, target_is_directory=True)
    (src / "loop").symlink_to(src, target_is_directory=True)
    (src / "self_loop.jpg").symlink_to(src / "self_loop.jpg")
    for link in ("link.jpg", "linked_folder", "loop", "self_loop.jpg"):
        bad[link] = ("skipped", "symbolic link")
    os.mkfifo(src / "pipe.jpg")
    bad["pipe.jpg"] = ("skipped", "not a regular file")
    if os.geteuid() != 0:  # root reads any file whatever its mode
        shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "locked.jpg")
        os.chmod(src / "locked.jpg", 0)
        bad["locked.jpg"] = ("failed", "cannot read")
    return src, good, bad


def test_hostile_files_are_reported_and_good_ones_written(tmp_path, hostile_tree):
    src, good, bad = hostile_tree
    out = tmp_path / "out"
    result = run_cli("run", src, out, "--workers", "2", "--config", FAST, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    records = {r["source"]: r for r in read_records(tmp_path / "out.report")}
    printable = {name: name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for name in good}
    assert printable[os.fsdecode(b"caf\xe9-latin1.jpg")] == "caf\\xe9-latin1.jpg"
    for name in good:
        record = records[printable[name]]
        assert record["status"] == "ok", (name, record["error"])
        assert load_pixels(out / name).shape[:2] == (record["height"], record["width"])
    for name, (status, reason) in bad.items():
        assert records[name]["status"] == status, (name, records[name])
        assert reason in records[name]["error"] and "\n" not in records[name]["error"], name
    assert set(records) == set(printable.values()) | set(bad)
    written = sorted(p.relative_to(out) for p in out.rglob("*") if not p.is_dir())
    assert written == sorted(Path(name) for name in good)
    # Nothing behind a link was read: the outside photo appears nowhere.
    assert not any("secret" in name for name in records)


@pytest.mark.parametrize("workers", [1, 2])  # one worker process: the default on one core
def test_a_worker_that_dies_takes_no_other_file_with_it(tmp_path, workers):
    src, out = tmp_path / "src", tmp_path / "out"
    names = copy_photos(src, 1)
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "crash.jpg")
    config = load_config(FAST)
    images = [s for s in discover(src) if s.kind == IMAGE]
    items, _ = plan_outputs(images, config.output, tmp_path / "report")
    results = []
    run_job(DyingJob(FileJob(config, out)), items, results.append, build_engine("local", workers))
    records = {r.record.source: r.record for r in results}
    assert len(results) == len(items) == len(records)
    assert records["crash.jpg"].status == "failed"
    assert "worker process died" in records["crash.jpg"].error
    assert not (out / "crash.jpg").exists()
    for name in names:
        assert records[name].status == "ok" and (out / name).is_file(), name


@pytest.fixture
def small_disk(tmp_path):
    """A 320 KiB file system: room for a couple of outputs, not for all of them."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk test needs one")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_output_disk_fails_the_files_that_do_not_fit_and_leaves_no_partial_file(tmp_path, small_disk):
    src = tmp_path / "src"
    copy_photos(src, 3)
    out = small_disk / "out"
    summary = run(src, out, load_config(FAST), report_dir=tmp_path / "report")
    assert summary.exit_code == 1
    records = read_records(tmp_path / "report")
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] == "failed"]
    assert ok and failed
    for record in failed:
        assert "no space left" in record["error"] and "--resume" in record["error"]
    leftovers = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert leftovers == sorted(r["output"] for r in ok)
    for record in ok:
        assert load_pixels(out / record["output"]).shape[:2] == (record["height"], record["width"])


def test_outputs_are_never_half_written_under_their_final_name(tmp_path):
    """The rename is the commit point: a temporary file is all a failure can leave, and the
    next run removes it."""
    from deid.output import TEMP_PREFIX, write_atomic

    target = tmp_path / "out" / "photo.jpg"

    class Boom(Exception):
        pass

    original_replace = os.replace
    try:
        os.replace = lambda *a: (_ for _ in ()).throw(Boom())  # fail at the last step
        with pytest.raises(Boom):
            write_atomic(target, b"\xff\xd8" + b"\x00" * 1000)
    finally:
        os.replace = original_replace
    assert not target.exists()
    assert [p for p in target.parent.iterdir() if p.name.startswith(TEMP_PREFIX)] == []
    src = tmp_path / "src"
    copy_photos(src, 1)
    run(src, tmp_path / "out", load_config(FAST))
    run_id = (tmp_path / "out.report" / "run.id").read_text().strip()
    ours = target.parent / f"{TEMP_PREFIX}{run_id}-host-123-left-by-a-kill.part"
    theirs = target.parent / f"{TEMP_PREFIX}0123456789ab-host-456-in-progress.part"
    for stale in (ours, theirs):
        stale.write_bytes(b"partial")
    run(src, tmp_path / "out", load_config(FAST), resume=True)
    assert not ours.exists()
    assert theirs.exists(), "a run removed another run's temporary file"


def test_temporary_files_name_the_run_and_the_worker(tmp_path, monkeypatch):
    import deid.output

    seen = []
    original = os.replace
    monkeypatch.setattr(deid.output.os, "replace", lambda a, b: (seen.append(Path(a).name), original(a, b)))
    src = tmp_path / "src"
    copy_photos(src, 1)
    run(src, tmp_path / "out", dataclasses.replace(load_config(FAST), workers=1))
    run_id = (tmp_path / "out.report" / "run.id").read_text().strip()
    images = [name for name in seen if name.startswith(f".deid-{run_id}-")]
    assert len(images) >= 3, seen


def test_two_runs_with_one_report_folder_at_once_are_refused(tmp_path):
    src = tmp_path / "src"
    copy_photos(src, 1)
    report = tmp_path / "out.report"
    report.mkdir()
    (report / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    result = run_cli("run", src, tmp_path / "out", "--config", FAST)
    assert result.returncode == 2
    assert "another deid run" in result.stderr and "run.lock" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_lock_left_by_a_dead_run_is_taken_over(tmp_path):
    src = tmp_path / "src"
    copy_photos(src, 1)
    report = tmp_path / "out.report"
    report.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (report / "run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    result = run_cli("run", src, tmp_path / "out", "--config", FAST, "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert not (report / "run.lock").exists()


def test_engine_ray_without_ray_installed_is_a_usage_error(tmp_path):
    src = tmp_path / "src"
    copy_photos(src, 1)
    code = (
        "import sys; sys.modules['ray'] = None; from deid.cli import main; "
        f"sys.exit(main(['run', {str(src)!r}, {str(tmp_path / 'out')!r}, '--engine', 'ray']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    from deid.extras import install_hint

    assert install_hint("ray") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", ["noise", "pixelate"])
def test_a_resumed_run_draws_the_same_noise_and_a_new_run_draws_new_noise(tmp_path, mode):
    src = tmp_path / "src"
    names = copy_photos(src, 1)
    options = ("--workers", "1", "--config", FAST, "--mode", mode)
    first = run_cli("run", src, tmp_path / "out", *options)
    assert first.returncode == 0, first.stderr
    before = files_under(tmp_path / "out")
    assert (tmp_path / "out.report" / "noise.key").is_file()
    redo = names[0]
    (tmp_path / "out" / redo).unlink()
    resumed = run_cli("run", src, tmp_path / "out", "--resume", *options)
    assert resumed.returncode == 0, resumed.stderr
    assert files_under(tmp_path / "out") == before
    other = run_cli("run", src, tmp_path / "other", *options)
    assert other.returncode == 0, other.stderr
    # Another report folder, another key: the covered pixels differ, the rest does not.
    photo = load_pixels(tmp_path / "out" / redo)
    assert (photo != load_pixels(tmp_path / "other" / redo)).any()
    records = {r["source"]: r for r in read_records(tmp_path / "out.report")}
    assert records[redo]["faces"], "the photo must have a covered face for the noise to show"


@pytest.mark.parametrize(
    "quota, period, cores",
    [
        ("max", "100000", None),  # cgroup v2, no limit
        ("-1", "100000", None),  # cgroup v1, no limit
        ("0", "100000", None),
        ("200000", "100000", 2),
        ("150000", "100000", 2),  # 1.5 cores: rounded up
        ("50000", "100000", 1),
        ("garbage", "100000", None),
    ],
)
def test_a_container_cpu_quota_gives_its_number_of_cores(quota, period, cores):
    from deid.engine.local import cores_from_quota

    assert cores_from_quota(quota, period) == cores


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a machine with 2 cores or more")
def test_the_default_workers_are_the_cores_the_run_may_use(tmp_path):
    """A cluster job allowed one core of a node runs one worker, not one per core of the
    node; and that worker is a separate process (a crash fails only its file) unless
    --workers 1 asks for the main process."""
    src = tmp_path / "src"
    copy_photos(src, 1)
    script = (
        "import dataclasses, os, sys, deid, deid.process\n"
        "if sys.argv[1] == 'one core': os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])\n"
        "config = dataclasses.replace(deid.load_config(sys.argv[4]), workers=int(sys.argv[5]))\n"
        "summary = deid.run(sys.argv[2], sys.argv[3], config)\n"
        "print(summary.workers, deid.process.cached_stages.cache_info().currsize)\n"
    )
    seen = {}
    for cores, workers in (("one core", 0), ("all cores", 0), ("all cores", 1)):
        done = subprocess.run(
            [sys.executable, "-c", script, cores, str(src), str(tmp_path / f"out-{cores}-{workers}"), str(FAST),
             str(workers)],
            capture_output=True, text=True, check=True,
        )
        ran, models_here = done.stdout.split()[-2:]
        seen[cores, workers] = (int(ran), "main process" if int(models_here) else "worker processes")
    assert seen == {
        ("one core", 0): (1, "worker processes"),
        ("all cores", 0): (min(len(os.sched_getaffinity(0)), len(PHOTOS)), "worker processes"),
        ("all cores", 1): (1, "main process"),
    }


@pytest.mark.parametrize(
    "v2, v1, cores",
    [
        (None, None, None),  # neither file: no container limit
        ("300000 100000\n", None, 3),
        ("max 100000\n", ("200000\n", "100000\n"), None),  # v2 says no limit; v1 is not read
        (None, ("200000\n", "100000\n"), 2),
        (None, ("-1\n", "100000\n"), None),
    ],
)
def test_the_container_cpu_quota_is_read_from_cgroup_v2_or_v1(tmp_path, monkeypatch, v2, v1, cores):
    from deid.engine import local as workers

    v2_path, v1_paths = tmp_path / "cpu.max", (tmp_path / "cpu.cfs_quota_us", tmp_path / "cpu.cfs_period_us")
    if v2 is not None:
        v2_path.write_text(v2)
    if v1 is not None:
        for path, text in zip(v1_paths, v1):
            path.write_text(text)
    monkeypatch.setattr(workers, "CGROUP_V2_CPU_MAX", v2_path)
    monkeypatch.setattr(workers, "CGROUP_V1_CPU_QUOTA", v1_paths)
    assert workers.cgroup_cpu_limit() == cores


def test_a_resume_trusts_unchanged_stamps_and_reads_what_changed(tmp_path, monkeypatch):
    """A finished run resumed reads no file again; --rehash reads them all; a touched input
    with the same bytes is read and kept; an input whose bytes changed is redone."""
    import deid.pipeline

    src, out = tmp_path / "src", tmp_path / "out"
    names = copy_photos(src, 2)
    config = load_config(FAST)
    run(src, out, config)
    hashed = []
    sha256_file = deid.pipeline.sha256_file
    monkeypatch.setattr(deid.pipeline, "sha256_file", lambda path: hashed.append(Path(path).name) or sha256_file(path))

    assert run(src, out, config, resume=True).resumed == len(names)
    assert hashed == []
    assert run(src, out, config, resume=True, rehash=True).resumed == len(names)
    assert len(hashed) == 2 * len(names)

    hashed.clear()
    touched, changed = src / names[0], src / names[1]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    changed.write_bytes(changed.read_bytes() + b"\0")
    summary = run(src, out, config, resume=True)
    assert summary.resume.redone == {"input changed": 1}
    assert summary.resumed == len(names) - 1
    assert Path(names[0]).name in hashed


def test_rehash_without_resume_is_a_usage_error(tmp_path):
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out", "--rehash")
    assert result.returncode == 2 and "use it with --resume" in result.stderr


def test_files_are_processed_as_the_walk_finds_them(tmp_path, monkeypatch):
    """The first image is done before the walk has found the last file: the driver holds
    no list of every file of a large tree."""
    import deid.pipeline

    src = tmp_path / "src"
    names = copy_photos(src, 4)
    walked = []
    discover = deid.pipeline.discover

    def walk(folder):
        for source in discover(folder):
            walked.append(source.relative)
            yield source

    monkeypatch.setattr(deid.pipeline, "discover", walk)
    seen = []
    summary = run(src, tmp_path / "out", dataclasses.replace(load_config(FAST), workers=1),
                  progress=lambda done, total, record: seen.append((len(walked), total, record.status)))
    assert summary.counts.ok == len(names)
    first_done = next(found for found, _, status in seen if status == "ok")
    assert first_done < len(names), "the first image waited for the whole walk"
    assert seen[-1][1] == len(names)  # the count of files came in by the end


def test_a_finished_runs_journal_points_into_the_report_and_resumes_through_a_second_stop(tmp_path):
    """At its end a run folds its journal: no second copy of each record, only where the
    record lies in images.jsonl. A resume that is stopped before its end leaves that
    report where the journal still finds it, and the next resume keeps every file."""
    from deid.journal import JOURNAL_FILE, PREVIOUS_IMAGES_FILE, Journal

    src, out, report = tmp_path / "src", tmp_path / "out", tmp_path / "out.report"
    names = copy_photos(src, 2)
    config = load_config(FAST)
    run(src, out, config)
    images = (report / "images.jsonl").read_bytes()
    lines = [json.loads(line) for line in (report / JOURNAL_FILE).read_text().splitlines()]
    assert len(lines) == len(names) and all("record" not in line for line in lines)
    for line in lines:
        record = json.loads(images[line["report_offset"]:].split(b"\n", 1)[0])
        assert record["source"] == line["source"]

    # A resume stopped before its end: the journal opened, nothing folded.
    stopped = Journal(report, resume=True)
    assert stopped.previous(names[0]).record.source == names[0]
    stopped.close()
    assert (report / PREVIOUS_IMAGES_FILE).exists() and not (report / "images.jsonl").exists()

    summary = run(src, out, config, resume=True)
    assert summary.resumed == len(names)
    assert (report / "images.jsonl").read_bytes() == images
    assert not (report / PREVIOUS_IMAGES_FILE).exists()
    assert run(src, out, config, resume=True).resumed == len(names)


def test_a_resume_with_nothing_left_loads_no_model_and_reports_the_same_models(tmp_path, monkeypatch):
    import deid.pipeline

    src, out = tmp_path / "src", tmp_path / "out"
    copy_photos(src, 1)
    config = load_config(FAST)
    first = run(src, out, config)
    monkeypatch.setattr(deid.pipeline, "run_job", lambda *args: pytest.fail("models loaded with nothing to do"))
    resumed = run(src, out, config, resume=True)
    assert resumed.versions["models"] == first.versions["models"]
    assert resumed.devices == first.devices and resumed.warnings == first.warnings

"""deid run as a user runs it: a real process on real files, checked by reading the
outputs back (pixels, exiftool, the report)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deid.report import read_records

from conftest import SAMPLE_DATA, changed_fraction, exiftool_tags, load_pixels, metadata_left, run_cli

def sample_truth() -> dict[str, list[list[float]]]:
    data = json.loads((SAMPLE_DATA / "faces.json").read_text())
    return {entry["image"]: entry["faces"] for entry in data["images"]}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample")
    result = run_cli("run", SAMPLE_DATA, tmp / "out", "--workers", "1")
    return result, tmp / "out", tmp / "out.report"


def test_sample_run_succeeds_and_says_where_results_are(sample_run):
    result, out, report = sample_run
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and str(report) in result.stdout
    assert "Traceback" not in result.stderr


def test_report_lists_every_input_file_and_matches_the_outputs(sample_run):
    _, out, report = sample_run
    records = {r["source"]: r for r in read_records(report)}
    inputs = {p.relative_to(SAMPLE_DATA).as_posix() for p in SAMPLE_DATA.rglob("*") if p.is_file()}
    assert set(records) == inputs
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {r["output"] for r in records.values() if r["status"] == "ok"}
    for record in records.values():
        if record["status"] == "ok":
            assert record["output"] == record["source"]
            size = load_pixels(out / record["output"]).shape
            assert (record["width"], record["height"]) == (size[1], size[0])
            for face in record["faces"]:
                x1, y1, x2, y2 = face["region"]
                assert 0 <= x1 < x2 <= record["width"] and 0 <= y1 < y2 <= record["height"]
        else:
            assert record["output"] is None and record["error"]
    assert records["NOTES.txt"]["status"] == "skipped"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["counts"]["inputs"] == len(inputs)
    assert summary["counts"]["ok"] == sum(r["status"] == "ok" for r in records.values())
    assert summary["files_with_metadata"]["gps"] == sum("gps" in r["metadata_found"] for r in records.values())
    assert summary["files_with_metadata"]["gps"] >= 2
    assert summary["config"]["anonymize"]["mode"] == "solid"


def test_every_known_face_in_the_sample_is_covered(sample_run):
    _, out, _ = sample_run
    for image, faces in sample_truth().items():
        before, after = load_pixels(SAMPLE_DATA / image), load_pixels(out / image)
        assert before.shape == after.shape
        for face in faces:
            assert changed_fraction(before, after, face) > 0.6, (image, face)


def test_metadata_found_in_the_sample_is_reported(sample_run):
    _, _, report = sample_run
    records = {r["source"]: r for r in read_records(report)}
    found = set(records["astronaut.jpg"]["metadata_found"])
    assert {"gps", "device", "datetime", "thumbnail", "xmp", "icc"} <= found


def test_exiftool_finds_no_metadata_in_any_output(sample_run, exiftool):
    _, out, _ = sample_run
    outputs = [p for p in out.rglob("*") if p.is_file()]
    assert outputs
    for path in outputs:
        assert metadata_left(exiftool_tags(exiftool, path)) == [], path.name


def test_input_is_never_touched(sample_run):
    before = {p: p.read_bytes() for p in SAMPLE_DATA.rglob("*") if p.is_file()}
    assert before  # the run above read these; they are byte-identical to the repo's


def test_bad_files_are_reported_and_nothing_is_written_for_them(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SAMPLE_DATA, src)
    good = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.suffix in (".jpg", ".png"))
    whole = (SAMPLE_DATA / "astronaut.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (src / "zero.jpg").write_bytes(b"")
    (src / "letter.jpg").write_text("Dear reviewer, this is not a photo.\n")
    corrupt = bytearray((SAMPLE_DATA / "astronaut_portrait.png").read_bytes())
    corrupt[100:400] = b"\x00" * 300
    (src / "corrupt.png").write_bytes(bytes(corrupt))
    result = run_cli("run", src, tmp_path / "out", "--workers", "1")
    assert result.returncode == 1, result.stderr
    records = {r["source"]: r for r in read_records(tmp_path / "out.report")}
    for bad in ("truncated.jpg", "zero.jpg", "letter.jpg", "corrupt.png"):
        assert records[bad]["status"] in ("failed", "skipped"), bad
        assert records[bad]["error"] and "\n" not in records[bad]["error"]
        assert not (tmp_path / "out" / bad).exists()
        assert bad in result.stderr
    for name in good:
        assert records[name]["status"] == "ok" and (tmp_path / "out" / name).is_file()
    leftovers = [p.name for p in (tmp_path / "out").rglob(".deid-*")]
    assert leftovers == []


def test_two_workers_give_the_same_result_as_one(tmp_path, sample_run):
    _, out_one, report_one = sample_run
    result = run_cli("run", SAMPLE_DATA, tmp_path / "out", "--workers", "2")
    assert result.returncode == 0, result.stderr
    one = sorted(read_records(report_one), key=lambda r: r["source"])
    two = sorted(read_records(tmp_path / "out.report"), key=lambda r: r["source"])
    assert one == two
    for record in one:
        if record["output"]:
            assert (out_one / record["output"]).read_bytes() == (tmp_path / "out" / record["output"]).read_bytes()


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t: ["run", t / "missing", t / "out"], "does not exist"),
        (lambda t: ["run", t / "src", t / "src" / "clean"], "inside the source"),
        (lambda t: ["run", t / "src", t / "src"], "inside the source"),
        (lambda t: ["run", t / "src", t], "inside the output"),
        (lambda t: ["run", t / "src", t / "out", "--report", t / "out" / "rep"], "inside the output"),
        (lambda t: ["run", t / "src", t / "full"], "not empty"),
        (lambda t: ["run", t / "src", t / "out", "--margin", "-1"], "margin"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, make_args, message):
    (tmp_path / "src").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.jpg").write_bytes(b"x")
    result = run_cli(*make_args(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_overwrite_allows_a_non_empty_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "a.jpg")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.jpg").write_bytes(b"old")
    assert run_cli("run", src, tmp_path / "out").returncode == 2
    result = run_cli("run", src, tmp_path / "out", "--overwrite", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "a.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_help_explains_every_option():
    """Every option of every command, read from the parser itself: it is in the command's
    --help, explained, and an option that takes a value states its default."""
    import argparse

    from deid.cli import build_parser

    top = run_cli("--help")
    assert top.returncode == 0 and "run" in top.stdout
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        help_text = " ".join(run_cli(name, "--help").stdout.split())
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"deid {name} {action.option_strings[-1]} has no help"
            assert action.option_strings[-1] in help_text
            if action.nargs != 0:  # takes a value
                assert "default" in action.help.lower(), f"deid {name} {action.option_strings[-1]}: no default stated"


@pytest.mark.parametrize("mode", ["pixelate", "blur", "noise"])
def test_other_modes_from_the_command_line(tmp_path, mode):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "a.jpg")
    result = run_cli("run", src, tmp_path / "out", "--mode", mode, "--workers", "1")
    assert result.returncode == 0, result.stderr
    (face,) = sample_truth()["astronaut.jpg"]
    before, after = load_pixels(src / "a.jpg"), load_pixels(tmp_path / "out" / "a.jpg")
    assert changed_fraction(before, after, face) > 0.3


def test_eval_writes_nothing_into_the_current_folder_unless_asked(tmp_path):
    from conftest import PROJECT

    result = subprocess.run(
        [sys.executable, "-m", "deid", "eval", PROJECT / "sample_data", PROJECT / "sample_data" / "faces.json",
         "--workers", "1"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    assert "--out" in result.stdout
    assert "80%%" not in run_cli("eval", "--help").stdout


def test_an_empty_source_is_warned_about(tmp_path):
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out")
    assert result.returncode == 0
    assert "no image found" in result.stderr and "empty" in result.stderr


def test_progress_off_a_terminal_is_a_line_every_interval(monkeypatch, capsys):
    import deid.cli
    from deid.report import ImageRecord

    monkeypatch.setattr(deid.cli, "PROGRESS_INTERVAL_S", 0.0)
    bar = deid.cli._ProgressBar()
    bar.update(1, 3, ImageRecord("a.jpg", "a.jpg", "ok"))
    bar.update(2, 3, ImageRecord("b.jpg", None, "failed", error="x"))
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[-1].startswith("deid: 2/3 files, 1 failed, ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress_lines(bar, clock, finished: list[tuple[float, int]], total: int, capsys) -> list[str]:
    for clock.now, done in finished:
        bar.update(done, total, None)
    return capsys.readouterr().err.splitlines()


def test_progress_rate_starts_at_the_first_file_not_at_model_loading(capsys):
    import deid.cli

    clock = FakeClock()
    bar = deid.cli._ProgressBar(clock=clock)
    # Models load for 20 s, then a file a second: at 30 s, 11 of 100 are done.
    finished = [(20.0 + i, 1 + i) for i in range(11)]
    lines = progress_lines(bar, clock, finished, 100, capsys)
    assert lines == ["deid: 11/100 files, 0 failed, 1.0 files/s, about 89 s left"]


def test_progress_rate_leaves_out_the_files_a_resumed_run_kept(capsys):
    import deid.cli

    clock = FakeClock()
    bar = deid.cli._ProgressBar(clock=clock)
    # 50 files kept by --resume are recorded at once; then 20 s of model loading and a
    # file a second.
    kept = [(1.0 + i * 1e-5, 1 + i) for i in range(50)]
    finished = [(21.0 + i, 51 + i) for i in range(10)]
    lines = progress_lines(bar, clock, kept + finished, 100, capsys)
    assert lines == ["deid: 60/100 files, 0 failed, 1.0 files/s, about 40 s left"]


def test_progress_rate_is_not_guessed_from_one_file(capsys):
    import deid.cli

    clock = FakeClock()
    bar = deid.cli._ProgressBar(clock=clock)
    lines = progress_lines(bar, clock, [(30.0, 1)], 100, capsys)
    assert lines == ["deid: 1/100 files, 0 failed, rate not known yet"]


def test_progress_rate_of_a_steady_stream_counts_from_the_first_file(capsys):
    import deid.cli

    clock = FakeClock()
    bar = deid.cli._ProgressBar(clock=clock)
    # Many workers on small images: 40 files a second from 10 s on, never a pause.
    finished = [(10.0 + i / 40, 1 + i) for i in range(801)]
    lines = progress_lines(bar, clock, finished, 1000, capsys)
    assert lines == ["deid: 801/1000 files, 0 failed, 40.0 files/s, about 5 s left"]


def test_progress_lines_wait_for_the_interval(monkeypatch, capsys):
    import deid.cli

    monkeypatch.setattr(deid.cli, "PROGRESS_INTERVAL_S", 3600.0)
    bar = deid.cli._ProgressBar()
    for done in range(1, 5):
        bar.update(done, 4, None)
    assert capsys.readouterr().err == ""


def test_resume_says_what_it_kept_and_why_it_redid_the_rest(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SAMPLE_DATA, src)
    first = run_cli("run", src, tmp_path / "out", "--workers", "1")
    assert first.returncode == 0, first.stderr
    again = run_cli("run", src, tmp_path / "out", "--workers", "1", "--resume")
    assert "resume: kept 3 files already done; processed 0 (none)" in again.stdout
    changed = run_cli("run", src, tmp_path / "out", "--workers", "1", "--resume", "--margin", "0.5")
    assert "resume: kept 0 files already done; processed 3 (3 config or deid version changed)" in changed.stdout


def test_a_single_image_as_source(tmp_path):
    photo = tmp_path / "photo.jpg"
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", photo)
    result = subprocess.run(
        [sys.executable, "-m", "deid", "run", "photo.jpg", "clean"], capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["photo.jpg"]
    record = read_records(tmp_path / "clean.report")[0]
    assert record["source"] == "photo.jpg" and record["faces"]


def test_dry_run_lists_and_writes_nothing(tmp_path):
    result = run_cli("run", SAMPLE_DATA, tmp_path / "out", "--dry-run", "--rename", "sequential")
    assert result.returncode == 0, result.stderr
    assert "write   astronaut.jpg -> 000001.jpg" in result.stdout
    assert "skip    NOTES.txt: not an image" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_files_from_processes_only_the_listed_files(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("people/grace_hopper.jpg\n\n")
    result = run_cli("run", SAMPLE_DATA, tmp_path / "out", "--files-from", listing, "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")] == [
        "people/grace_hopper.jpg"
    ]
    listing.write_text("../elsewhere.jpg\n")
    refused = run_cli("run", SAMPLE_DATA, tmp_path / "out2", "--files-from", listing)
    assert refused.returncode == 2 and "not inside" in refused.stderr


def test_a_packaged_preset_by_name_from_another_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "deid", "run", SAMPLE_DATA / "astronaut.jpg", "out", "--config", "fast"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out.report" / "summary.json").read_text())
    assert summary["config"]["detect"]["detectors"][0]["scales"] == [0.75]


def test_run_verify_reads_the_outputs_under_the_runs_pixel_limit(tmp_path, monkeypatch, capsys):
    """--verify decodes OUT under the run's output.max_pixels: under the default limit, a run
    that raised it had its own largest outputs reported unreadable."""
    import deid.cli
    import deid.verify
    from deid.config import OutputConfig

    raised = 2 * OutputConfig.max_pixels
    (tmp_path / "config.toml").write_text(f"[output]\nmax_pixels = {raised}\n")
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, dtype=np.uint8)).save(src / "scan.tif")
    limits = []
    decode = deid.verify.decode

    def recording_decode(data: bytes, max_pixels: int):
        limits.append(max_pixels)
        return decode(data, max_pixels)

    monkeypatch.setattr(deid.verify, "decode", recording_decode)
    # dlib's checks would decode the originals too; the outputs are what is checked here.
    monkeypatch.setattr(deid.verify, "audit_available", lambda: "dlib is not needed here")
    args = ["run", src, tmp_path / "out", "--config", tmp_path / "config.toml", "--workers", "1", "--verify"]
    assert deid.cli.main([str(arg) for arg in args]) == 0, capsys.readouterr().err
    assert limits == [raised]
    verified = json.loads((tmp_path / "out.report" / "verify.json").read_text())
    assert verified["files"] == 1 and verified["unreadable"] == []
    # A later 'deid verify OUT' reads the limit from the run's report.
    limits.clear()
    assert deid.cli.main(["verify", str(tmp_path / "out"), "--workers", "1"]) == 0, capsys.readouterr().err
    assert limits == [raised]


def test_a_mistyped_preset_lists_the_presets_and_suggests_the_closest(tmp_path):
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out", "--config", "strcit")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "neither a preset nor an existing file" in result.stderr
    assert "(default, fast, strict)" in result.stderr
    assert result.stderr.rstrip().endswith("did you mean 'strict'?")
    far = run_cli("run", tmp_path / "src", tmp_path / "out", "--config", "settings/mine.toml")
    assert far.returncode == 2 and "(default, fast, strict)" in far.stderr and "did you mean" not in far.stderr


@pytest.mark.parametrize(
    "args, usage, guess",
    [
        (["run", "SRC", "OUT", "--workrs", "2"], "usage: deid run ", "did you mean --workers?"),
        (["run", "--workrs=2", "SRC", "OUT"], "usage: deid run ", "did you mean --workers?"),
        (["verify", "OUT", "--sampel", "3"], "usage: deid verify ", "did you mean --sample?"),
    ],
)
def test_a_mistyped_option_shows_its_commands_usage_and_the_closest_option(args, usage, guess):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(usage)
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"deid {args[0]}: error: unrecognized arguments: ") and last.endswith(guess)


def test_a_mistyped_top_level_option_is_named_not_the_missing_command():
    result = run_cli("--verison")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "deid: error: unrecognized arguments: --verison; did you mean --version?"
    bare = run_cli()
    assert bare.returncode == 2 and bare.stderr.splitlines()[-1].endswith("required: COMMAND")


def test_an_extras_install_hint_from_a_package_index(monkeypatch):
    import deid.extras

    monkeypatch.setattr(deid.extras, "source_checkout", lambda: None)
    assert deid.extras.install_hint("text") == "install the text extra: pip install 'deid[text]'"


def test_an_extras_install_hint_in_a_source_checkout_uses_its_environment(tmp_path, monkeypatch):
    import deid.extras

    checkout = tmp_path / "deid checkout"
    monkeypatch.setattr(deid.extras, "source_checkout", lambda: checkout)
    monkeypatch.setattr(sys, "prefix", str(checkout / ".venv"))
    monkeypatch.setattr(sys, "executable", str(checkout / ".venv" / "bin" / "python"))
    assert deid.extras.install_hint("text") == (
        f"install the text extra: cd '{checkout}' && .venv/bin/pip install -e '.[text]'"
    )
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "elsewhere"))
    assert deid.extras.install_command("audit") == f"cd '{checkout}' && pip install -e '.[audit]'"


def test_a_source_checkout_is_found_from_the_package_folder(tmp_path, monkeypatch):
    import deid.extras

    (tmp_path / "src" / "deid").mkdir(parents=True)
    monkeypatch.setattr(deid.extras, "__file__", str(tmp_path / "src" / "deid" / "extras.py"))
    monkeypatch.setattr(deid.extras, "_editable_folder", lambda: None)
    assert deid.extras.source_checkout() is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "deid"\n')
    assert deid.extras.source_checkout() == tmp_path


def test_an_editable_install_is_found_from_its_direct_url(tmp_path, monkeypatch):
    import deid.extras

    class Installed:
        def __init__(self, direct_url: dict) -> None:
            self.direct_url = direct_url

        def read_text(self, name: str) -> str:
            return json.dumps(self.direct_url)

    site_packages = tmp_path / "site-packages" / "deid"
    site_packages.mkdir(parents=True)
    monkeypatch.setattr(deid.extras, "__file__", str(site_packages / "extras.py"))
    url = (tmp_path / "my checkout").as_uri()
    for direct_url, found in [
        ({"url": url, "dir_info": {"editable": True}}, tmp_path / "my checkout"),
        ({"url": url, "dir_info": {}}, None),
        ({"url": "https://example.org/deid-0.1.0.whl", "archive_info": {}}, None),
    ]:
        monkeypatch.setattr(deid.extras.metadata, "distribution", lambda name, d=direct_url: Installed(d))
        assert deid.extras.source_checkout() == found, direct_url


def test_dry_run_decodes_every_image_and_fails_as_the_run_would(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "whole.jpg")
    whole = (SAMPLE_DATA / "astronaut.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    result = run_cli("run", src, tmp_path / "out", "--dry-run")
    assert result.returncode == 1, result.stderr
    assert "write   whole.jpg -> whole.jpg" in result.stdout
    assert "fail    truncated.jpg: corrupt or truncated JPEG" in result.stdout
    assert "2 files: 1 would be written, 1 would fail, 0 skipped" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_dry_run_progress_lines_count_the_files_that_would_fail(tmp_path, monkeypatch, capsys):
    import deid.cli

    src = tmp_path / "src"
    src.mkdir()
    whole = (SAMPLE_DATA / "astronaut.jpg").read_bytes()
    (src / "a_truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (src / "b_whole.jpg").write_bytes(whole)
    monkeypatch.setattr(deid.cli, "PROGRESS_INTERVAL_S", 0.0)
    assert deid.cli.main(["run", str(src), str(tmp_path / "out"), "--dry-run"]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("deid: 2/2 files, 1 failed, ")


def test_resume_tells_outputs_written_but_not_recorded_from_files_not_done(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / name)
    first = run_cli("run", src, tmp_path / "out", "--workers", "1", "--config", "fast")
    assert first.returncode == 0, first.stderr
    # As after a stop between writing a.jpg and recording it; b.jpg was never written.
    (tmp_path / "out.report" / "journal.jsonl").write_text("")
    (tmp_path / "out" / "b.jpg").unlink()
    resumed = run_cli("run", src, tmp_path / "out", "--workers", "1", "--config", "fast", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    line = next(line for line in resumed.stdout.splitlines() if line.startswith("resume: "))
    assert line.startswith("resume: kept 0 files already done; processed 2 (")
    assert "1 written but not recorded before the stop" in line and "1 not done before" in line

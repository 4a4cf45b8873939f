"""A batch scheduler stops a job with SIGTERM: deid stops its workers, keeps what is done,
says how to resume and exits 143."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLE_DATA, run_cli

PHOTOS = ["astronaut.jpg", "astronaut_portrait.png", "people/grace_hopper.jpg"]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_workers_and_the_run_resumes(tmp_path):
    src = tmp_path / "src"
    for index in range(40):
        photo = PHOTOS[index % len(PHOTOS)]
        (src / f"{index:02d}").mkdir(parents=True)
        shutil.copy(SAMPLE_DATA / photo, src / f"{index:02d}" / Path(photo).name)
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "deid", "run", str(src), str(out), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    journal = tmp_path / "out.report" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.1)
    workers = children_of(run.pid)
    assert workers, "no worker processes seen"
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 143, stderr
    assert "--resume" in stderr
    time.sleep(1)
    assert [pid for pid in workers if alive(pid)] == []
    assert not (tmp_path / "out.report" / "run.lock").exists()
    resumed = run_cli("run", src, out, "--resume", "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert len([p for p in out.rglob("*") if p.is_file()]) == 40


@pytest.mark.parametrize("command, args", [
    ("run", ["SRC", "OUT"]),
    ("verify", ["OUT"]),
    ("eval", ["IMAGES", "GT.json"]),
    ("inspect", ["PHOTO.jpg"]),
])
def test_an_interrupted_command_says_how_to_go_on(monkeypatch, capsys, command, args):
    """Only run takes --resume; the others are told to start over, not to use an option
    they reject."""
    from deid import cli

    def interrupted(parsed):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, command, interrupted)
    assert cli.main([command, *args]) == 130
    message = capsys.readouterr().err
    assert ("--resume" in message) == (command == "run")
    assert message.count("\n") == 1

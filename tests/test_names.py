"""Pseudonymized output names: nothing of the original name in OUT, the mapping only in
the report."""

from __future__ import annotations

import re
import shutil

import pytest

from deid.names import OutputNamer
from deid.report import read_records

from conftest import SAMPLE_DATA, run_cli


@pytest.fixture()
def named_src(tmp_path):
    src = tmp_path / "src"
    (src / "jane_doe").mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "jane_doe" / "jane_doe_beach.jpg")
    shutil.copy(SAMPLE_DATA / "astronaut_portrait.png", src / "john_smith.png")
    return src


def written(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_hash_mode_hides_every_name_and_keeps_the_mapping_in_the_report(tmp_path, named_src):
    result = run_cli("run", named_src, tmp_path / "out", "--rename", "hash", "--workers", "1")
    assert result.returncode == 0, result.stderr
    names = written(tmp_path / "out")
    assert len(names) == 2
    for name in names:
        assert re.fullmatch(r"([0-9a-f]{16}/)?[0-9a-f]{16}\.(jpg|png)", name), name
        assert "jane" not in name and "john" not in name
    records = {r["source"]: r["output"] for r in read_records(tmp_path / "out.report")}
    assert set(records.values()) == set(names)
    assert (tmp_path / "out.report" / "rename.key").stat().st_mode & 0o077 == 0
    # The same report folder (same key) gives the same names on a re-run.
    again = run_cli("run", named_src, tmp_path / "out", "--rename", "hash", "--workers", "1", "--overwrite")
    assert again.returncode == 0 and written(tmp_path / "out") == names


def test_hash_names_depend_on_the_key():
    a, b = OutputNamer("hash", b"key one"), OutputNamer("hash", b"key two")
    assert a.stem("jane_doe.jpg", 0) != b.stem("jane_doe.jpg", 0)
    assert a.stem("x/jane_doe.jpg", 0) != a.stem("y/jane_doe.jpg", 0)


def test_sequential_mode_numbers_files_in_one_folder(tmp_path, named_src):
    result = run_cli("run", named_src, tmp_path / "out", "--rename", "sequential", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "out") == ["000001.png", "000002.jpg"]


def test_two_inputs_for_one_output_name_are_not_both_written(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "a.jpg")
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", src / "A.JPG")
    result = run_cli("run", src, tmp_path / "out", "--workers", "1")
    assert result.returncode == 1
    records = read_records(tmp_path / "out.report")
    assert sorted(r["status"] for r in records) == ["failed", "ok"]
    assert "already taken" in next(r["error"] for r in records if r["status"] == "failed")

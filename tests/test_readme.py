"""The README's examples, run as a new user would: each Python block as a script file, and
each command of the "Use" block, on sample_data."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, SAMPLE_DATA

README = (PROJECT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
USE_BLOCK = re.search(r"## Use\n\n```\n(.*?)```", README, re.S).group(1)
COMMANDS = [line.split("  #")[0].strip() for line in USE_BLOCK.splitlines() if line.strip()]


def placeholders(text: str, tmp: Path, out: str) -> str:
    photos = tmp / "photos"
    if not photos.exists():
        shutil.copytree(SAMPLE_DATA, photos)
    return (
        text.replace("PHOTOS/", f"{photos}/").replace('"PHOTOS"', f'"{photos}"')
        .replace("CLEAN/", f"{tmp / out}/").replace('"CLEAN"', f'"{tmp / out}"')
        .replace("PHOTO.jpg", str(photos / "astronaut.jpg"))
        .replace("IMAGES/", f"{SAMPLE_DATA}/").replace(" faces.json", f" {SAMPLE_DATA / 'faces.json'}")
        .replace("SHEET.png", str(tmp / "sheet.png"))
    )


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_as_a_script(tmp_path, index):
    script = tmp_path / "script.py"
    script.write_text(placeholders(PYTHON_BLOCKS[index], tmp_path, "clean"))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_use_block_command_runs(tmp_path, command):
    line = placeholders(command, tmp_path, "clean")
    words = shlex.split(line)
    if words[0] == "deid":
        words[0] = str(Path(sys.executable).with_name("deid"))
    elif words[0] == "python":
        words[0] = sys.executable
    result = subprocess.run(words, capture_output=True, text=True, cwd=PROJECT, timeout=600)
    assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"

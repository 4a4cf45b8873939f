"""The code's structure: what keeps a new detector, mode or format one file and one line."""

from __future__ import annotations

import importlib.util
import io
import re
from importlib import metadata

import numpy as np
import pytest
from PIL import Image

import deid
from deid import formats
from deid.config import OutputConfig
from deid.decode import decode
from deid.discover import IMAGE, classify
from deid.encode import encode
from deid.formats.base import ImageFormat
from conftest import PROJECT

spec = importlib.util.spec_from_file_location("import_cycles", PROJECT / "scripts" / "import_cycles.py")
import_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_cycles)


def test_no_import_circles_inside_the_package():
    assert import_cycles.cycles(import_cycles.import_graph()) == []


def test_the_circle_finder_finds_a_circle_deferred_inside_a_function(tmp_path):
    package = tmp_path / "deid"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from deid import b\n")
    (package / "b.py").write_text("def f():\n    from deid.a import g\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from deid import a\n")
    graph = import_cycles.import_graph(tmp_path)
    assert import_cycles.cycles(graph) == [["deid.a", "deid.b"]]
    assert graph["deid.c"] == set()


def test_the_config_names_modes_detectors_and_formats_without_importing_them():
    # The config may import the registries: they are leaves, naming classes as strings.
    graph = import_cycles.import_graph()
    for registry in ("deid.anonymize", "deid.names"):
        assert graph[registry] <= {"deid.keys"}, registry


def test_the_version_is_written_once():
    init = (PROJECT / "src" / "deid" / "__init__.py").read_text()
    assert not re.search(r"__version__\s*=\s*[\"']\d", init)
    assert deid.__version__ == metadata.version("deid")


def test_only_the_format_classes_branch_on_the_format():
    # What differs between formats lives in their classes (src/deid/formats), so a new
    # format is one module there and one line in FORMATS.
    branch = re.compile(r"\.format\s*(==|!=|(not\s+)?in\b)")
    package = PROJECT / "src" / "deid"
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py")) if "formats" not in path.relative_to(package).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if branch.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda fmt: fmt.name)
def test_every_format_reads_back_its_own_clean_file(fmt):
    buffer = io.BytesIO()
    fmt().save([Image.new(fmt.modes[0], (16, 8), "grey")], buffer, OutputConfig())
    data = buffer.getvalue()
    assert fmt.matches(data[: formats.HEAD_BYTES])
    with Image.open(io.BytesIO(data)) as image:
        reader = formats.reader_for(image.format)
        assert reader is fmt and formats.format_by_name(image.format) is fmt
        assert reader.metadata_found(image, data) == set()
        assert reader.frame_count(image) == 1 and not reader.is_preview_frame(image)
        assert (reader.iptc(image), reader.text_chunks(image), reader.xmp_packet(image)) == ({}, {}, None)


class PpmFormat(ImageFormat):
    """Netpbm colour images, registered the way a new format is added."""

    name = "PPM"
    extensions = (".ppm",)
    signatures = (b"P6",)
    modes = ("RGB",)

    @classmethod
    def metadata_found(cls, image: Image.Image, data: bytes | None = None) -> set[str]:
        found = super().metadata_found(image, data)
        # Pillow skips header comments; one right after the magic number is found here.
        if data is not None and data[3:4] == b"#":
            found.add("comment")
        return found


def test_a_new_format_is_one_class_and_one_registry_line(monkeypatch, tmp_path):
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, PpmFormat))
    source = tmp_path / "scan.ppm"
    pixels = np.full((8, 8, 3), 200, dtype=np.uint8)
    source.write_bytes(b"P6\n# scanned by Jane Example\n8 8\n255\n" + pixels.tobytes())
    discovered = classify(source, source.name)
    assert (discovered.kind, discovered.format) == (IMAGE, "PPM")
    decoded = decode(source.read_bytes(), max_pixels=10_000)
    assert decoded.metadata_found == ["comment"]
    clean = encode(decoded.frames, discovered.format, OutputConfig())
    assert clean == b"P6\n8 8\n255\n" + pixels.tobytes()

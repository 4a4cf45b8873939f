"""The code's structure: what keeps a new detector, mode or format one file and one line."""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata

import deid
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

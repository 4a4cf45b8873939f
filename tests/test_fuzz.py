"""Mutated real image files through decode -> detect -> anonymize -> strip -> encode -> write:
no exception escapes, and a file is written only when it was processed whole.

The examples are derived from a fixed seed, so CI runs the same few hundred cases each time
(set DEID_FUZZ_EXAMPLES to run more locally, with a random seed)."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deid.config import load_config
from deid.discover import IMAGE, classify
from deid.output import TEMP_PREFIX
from deid.process import WorkItem, cached_stages, process_file

from conftest import PRESETS, SAMPLE_DATA

EXAMPLES = int(os.environ.get("DEID_FUZZ_EXAMPLES", "0"))


def _seed_files() -> dict[str, bytes]:
    """Small real photos in every writable format, with metadata to damage too."""
    photo = Image.open(SAMPLE_DATA / "astronaut.jpg")
    exif = photo.getexif()
    small = photo.convert("RGB").resize((96, 96))
    flipped = small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    seeds = {}
    for name, fmt, options in (
        ("photo.jpg", "JPEG", {"exif": exif, "quality": 80}),
        ("progressive.jpg", "JPEG", {"progressive": True}),
        ("photo.png", "PNG", {"exif": exif}),
        ("palette.png", "PNG", {}),
        ("animated.gif", "GIF", {"save_all": True, "append_images": [flipped], "loop": 0}),
        ("animated.webp", "WEBP", {"save_all": True, "append_images": [flipped], "exif": exif}),
        ("pages.tif", "TIFF", {"save_all": True, "append_images": [flipped]}),
        ("photo.bmp", "BMP", {}),
    ):
        image = small.convert("P") if name == "palette.png" else small
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        seeds[name] = buffer.getvalue()
    return seeds


SEEDS = _seed_files()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("big number"), st.floats(0, 1), st.sampled_from([0, 0x7F, 0xFF])),
)


def mutate(data: bytes, mutations: list[tuple[str, float, int]]) -> bytes:
    buffer = bytearray(data)
    for kind, where, value in mutations:
        at = min(int(where * len(buffer)), max(len(buffer) - 1, 0))
        if kind == "flip" and buffer:
            buffer[at] ^= value or 1
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = bytes([value])
        elif kind == "delete":
            del buffer[at : at + value]
        elif kind == "big number":
            # Sizes and counts in headers are where parsers go wrong.
            buffer[at : at + 4] = bytes([value]) * 4
    return bytes(buffer)


@pytest.fixture(scope="module")
def stages():
    return cached_stages(load_config(PRESETS / "fast.toml"))


@settings(
    max_examples=EXAMPLES or 300,
    derandomize=not EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_never_escape_and_are_written_only_whole(tmp_path_factory, stages, seed, mutations):
    root = tmp_path_factory.mktemp("fuzz")
    path = root / "src" / seed
    path.parent.mkdir()
    path.write_bytes(mutate(SEEDS[seed], mutations))
    source = classify(path, seed)
    if source.kind != IMAGE:
        assert source.reason
        return
    out = root / "out"
    result = process_file(WorkItem(source, seed), out, stages)
    record = result.record
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    if record.status != "ok":
        assert record.error and "\n" not in record.error
        assert written == []
        return
    assert [p.name for p in written] == [seed]
    assert not any(p.name.startswith(TEMP_PREFIX) for p in written)
    with Image.open(written[0]) as image:
        frames = getattr(image, "n_frames", 1)
        for index in range(frames):
            image.seek(index)
            image.load()
        assert image.size == (record.width, record.height)
        assert frames == record.frames
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)

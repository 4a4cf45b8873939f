import numpy as np
import pytest

from deid.anonymize import ANONYMIZERS, build_anonymizer
from deid.boxes import Detections
from deid.config import AnonymizeConfig

from conftest import changed_fraction, load_pixels

MODES = sorted(ANONYMIZERS)
# The configured margin alone, whatever the face's score and size.
FIXED = {"margin_low_score": 0.0, "margin_small_face": 0.0}


def edge_energy(image, box):
    x1, y1, x2, y2 = (int(v) for v in box)
    return float(np.abs(np.diff(image[y1:y2, x1:x2].astype(float), axis=1)).mean())


def one_face(box):
    return Detections(np.asarray([box], dtype=float), np.asarray([0.9]), np.asarray(["test"], dtype=object))


@pytest.fixture(scope="module")
def photo(shared_data, shared_faces):
    name = "caltech/pic00013.jpg"
    return load_pixels(shared_data / "faces" / name).astype(np.uint8), shared_faces[name][0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", ["box", "ellipse"])
def test_face_pixels_change_and_the_rest_does_not(photo, mode, shape):
    image, face = photo
    anonymizer = build_anonymizer(AnonymizeConfig(mode=mode, shape=shape))
    out = anonymizer.anonymize(image, one_face(face))
    assert out.shape == image.shape and out.dtype == np.uint8
    # Dark hair and beard stay near a black fill and blur keeps mean colours, so not every
    # pixel moves far; 40% of the face box moving by over 40 levels rules out a no-op.
    assert changed_fraction(image.astype(np.int16), out.astype(np.int16), face) > 0.4
    if mode != "noise":
        # The detail that identifies a face (edges of eyes, nose, mouth) is gone.
        assert edge_energy(out, face) < 0.25 * edge_energy(image, face)
    (x1, y1, x2, y2), = anonymizer.regions(one_face(face), image.shape[1], image.shape[0])
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(out[outside], image[outside])


@pytest.mark.parametrize("mode", MODES)
def test_zero_detections_leave_the_image_untouched(mode):
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out = build_anonymizer(AnonymizeConfig(mode=mode)).anonymize(image, Detections.empty())
    assert np.array_equal(out, image) and out is not image


@pytest.mark.parametrize("mode", MODES)
def test_face_cut_by_the_border_and_tiny_face(mode):
    image = np.full((50, 50, 3), 200, dtype=np.uint8)
    anonymizer = build_anonymizer(AnonymizeConfig(mode=mode, margin=0.0, **FIXED))
    out = anonymizer.anonymize(image, one_face([-10, -10, 20, 20]))
    assert not np.array_equal(out[:20, :20], image[:20, :20]) or mode == "blur"
    tiny = anonymizer.anonymize(image, one_face([25, 25, 26, 26]))  # 1 px face: no crash
    assert tiny.shape == image.shape


def test_solid_fills_the_whole_region_with_the_colour():
    image = np.full((30, 30, 3), 255, dtype=np.uint8)
    out = build_anonymizer(AnonymizeConfig(mode="solid", color=(10, 20, 30), margin=0.5, **FIXED)).anonymize(
        image, one_face([10, 10, 20, 20])
    )
    assert (out[5:25, 5:25] == [10, 20, 30]).all()
    assert (out[:5] == 255).all()


def test_pixelate_has_the_configured_number_of_cells_across_the_face():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    config = AnonymizeConfig(mode="pixelate", pixelate_cells=5, pixelate_noise=0.0, margin=0.0, **FIXED)
    out = build_anonymizer(config).anonymize(image, one_face([0, 0, 100, 100]))
    row = out[50, :100, 0]
    assert len(np.unique(row)) == 5


def test_alpha_is_kept_and_hidden_colour_is_covered_too():
    image = np.zeros((20, 20, 4), dtype=np.uint8)
    image[..., :3] = 220
    out = build_anonymizer(AnonymizeConfig(margin=0.0, **FIXED)).anonymize(image, one_face([5, 5, 15, 15]))
    assert (out[5:15, 5:15, :3] == 0).all()
    assert (out[..., 3] == 0).all()


@pytest.mark.parametrize(
    "box, score, expected",
    [
        ([0, 0, 100, 100], 0.9, 0.35),  # a sure, large face: the configured margin
        ([0, 0, 100, 100], 0.8, 0.35),
        ([0, 0, 100, 100], 0.4, 0.35 + 0.3 * 0.5),  # half way to no confidence
        ([0, 0, 100, 100], 0.0, 0.65),
        ([0, 0, 24, 24], 0.9, 0.35 + 0.15 * 0.5),  # half way from 32 to 16 px
        ([0, 0, 10, 10], 0.9, 0.5),
        ([0, 0, 10, 10], 0.0, 0.8),  # both doubts add up
    ],
)
def test_unsure_and_small_faces_get_a_wider_margin(box, score, expected):
    from deid.anonymize.base import face_margins

    faces = Detections(np.asarray([box], float), np.asarray([score]), np.asarray(["t"], object))
    assert face_margins(faces, AnonymizeConfig()) == pytest.approx([expected])
    assert face_margins(Detections.empty(), AnonymizeConfig()).shape == (0,)


def test_an_unsure_face_is_covered_further_out():
    image = np.full((200, 200, 3), 255, dtype=np.uint8)
    anonymizer = build_anonymizer(AnonymizeConfig(mode="solid"))
    sure = Detections(np.asarray([[80.0, 80, 120, 120]]), np.asarray([0.95]), np.asarray(["t"], object))
    unsure = Detections(sure.xyxy, np.asarray([0.1]), sure.detectors)
    covered = [(anonymizer.anonymize(image, f) != 255).any(axis=2).sum() for f in (sure, unsure)]
    assert covered[1] > covered[0] * 1.5
    # margin 0.35 + 0.3 * (0.8 - 0.1) / 0.8 = 0.6125 of 40 px on every side
    assert anonymizer.regions(unsure, 200, 200).tolist() == [[55, 55, 145, 145]]

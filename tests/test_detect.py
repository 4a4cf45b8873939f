"""Detectors on real photos, device selection, multi-scale passes and tile seams."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from deid.boxes import Detections, merge_overlapping
from deid.config import DetectConfig, DetectorConfig
from deid.detect.ensemble import FaceDetector
from deid.detect.fusion import fuse_passes
from deid.detect.closer import MIN_REGION, closer_look_regions
from deid.detect.multiscale import FIRST_PASS_OVERLAP, TILE_OVERLAP, Crop, Pass, even_tile_spans, pass_crops, pass_scales, plan_passes, run_passes, tile_spans, tile_windows
from deid.detect.resample import Resampler
from deid.device import CPU_PROVIDER, CUDA_PROVIDER, choose_device, onnx_providers
from deid.evaluate import coverage

from conftest import SAMPLE_DATA, load_pixels, run_cli

AZURE = "AzureExecutionProvider"


@pytest.mark.parametrize(
    "requested, available, providers, device, noted",
    [
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER], "cpu", False),
        # onnxruntime lists Azure first; it must never be picked by accident
        ("auto", [AZURE, CPU_PROVIDER], [CPU_PROVIDER], "cpu", False),
        ("auto", [AZURE, CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER], "cuda", False),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER], "cuda", False),
        ("cuda", [AZURE, CPU_PROVIDER], [CPU_PROVIDER], "cpu", True),
    ],
)
def test_device_selection(requested, available, providers, device, noted):
    choice = onnx_providers(requested, available)
    assert choice.providers == providers and choice.device == device
    assert (choice.note is not None) == noted


@pytest.mark.parametrize(
    "requested, available, runtime, torch_gpu, device, chosen_runtime, noted",
    [
        ("auto", [CPU_PROVIDER], "auto", False, "cpu", "onnxruntime", False),
        # a GPU machine with PyTorch and no onnxruntime-gpu: PyTorch runs the model there
        ("auto", [CPU_PROVIDER], "auto", True, "cuda", "torch", False),
        ("cuda", [CPU_PROVIDER], "auto", True, "cuda", "torch", False),
        # onnxruntime's own CUDA provider comes first
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], "auto", True, "cuda", "onnxruntime", False),
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], "auto", True, "cpu", "onnxruntime", False),
        ("cuda", [CPU_PROVIDER], "auto", False, "cpu", "onnxruntime", True),
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], "onnxruntime", True, "cuda", "onnxruntime", False),
        ("auto", [CPU_PROVIDER], "onnxruntime", True, "cpu", "onnxruntime", False),
        ("cpu", [CPU_PROVIDER], "torch", True, "cpu", "torch", False),
        ("cuda", [CPU_PROVIDER], "torch", False, "cpu", "torch", True),
    ],
)
def test_runtime_and_device_choice(requested, available, runtime, torch_gpu, device, chosen_runtime, noted):
    choice = choose_device(requested, available, runtime, torch_cuda=lambda: torch_gpu)
    assert (choice.device, choice.runtime, choice.note is not None) == (device, chosen_runtime, noted)


def test_pytorch_runs_centerface_to_the_same_boxes_as_onnxruntime(caltech_sample):
    pytest.importorskip("torch", reason="PyTorch not installed (make test installs its CPU build where it can)")
    settings = {"precision": "float32", "candidate_threshold": 0.05, "confirm_score": 0.07}
    onnx_detector = centerface(**settings).detectors[0]
    torch_detector = centerface(runtime="torch", **settings).detectors[0]
    assert (onnx_detector.runtime, torch_detector.runtime) == ("onnxruntime", "torch")
    compared = 0
    for image, _ in caltech_sample[:8]:
        expected, got = onnx_detector.detect(image), torch_detector.detect(image)
        assert len(expected) == len(got)
        order_e, order_g = np.argsort(-expected.scores), np.argsort(-got.scores)
        assert np.allclose(expected.xyxy[order_e], got.xyxy[order_g], atol=0.05)
        assert np.allclose(expected.scores[order_e], got.scores[order_g], atol=1e-4)
        compared += len(expected)
    assert compared >= 8


@pytest.mark.parametrize(
    "length, tile, expected",
    [
        (100, 256, [(0, 100)]),
        (256, 256, [(0, 256)]),
        (300, 256, [(0, 256), (44, 300)]),
        (600, 256, [(0, 256), (192, 448), (344, 600)]),
        (1200, 1024, [(0, 1024), (176, 1200)]),
        (3000, 1024, [(0, 1024), (768, 1792), (1536, 2560), (1976, 3000)]),
    ],
)
def test_tile_spans_cover_with_overlap(length, tile, expected):
    spans = tile_spans(length, tile)
    assert spans == expected
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert len({end - start for start, end in spans}) == 1 and all(end - start <= tile for start, end in spans)  # one batch
    overlaps = [a_end - b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])]
    assert all(o >= tile * TILE_OVERLAP for o in overlaps)


@pytest.mark.parametrize(
    "length, tile, expected",
    [
        (100, 256, [(0, 100)]),
        (300, 256, [(0, 192), (108, 300)]),
        (600, 256, [(0, 224), (188, 412), (376, 600)]),
        (1200, 1024, [(0, 672), (528, 1200)]),
        (3264, 1024, [(0, 928), (779, 1707), (1557, 2485), (2336, 3264)]),
    ],
)
def test_first_pass_tiles_are_few_equal_and_spread_evenly(length, tile, expected):
    spans = even_tile_spans(length, tile)
    assert spans == expected
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert len({end - start for start, end in spans}) == 1 and all(end - start <= tile for start, end in spans)
    overlaps = [a_end - b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])]
    assert all(o >= tile * FIRST_PASS_OVERLAP for o in overlaps)
    # Few pixels looked at twice: one overlap per seam, plus rounding up to 32 px a tile.
    assert sum(end - start for start, end in spans) <= length + (len(spans) - 1) * tile * FIRST_PASS_OVERLAP + 32 * len(spans)


@pytest.mark.parametrize(
    "size, tile, windows",
    [
        ((1280, 800), 1024, 1),  # fewer pixels than a tile: whole, though wider
        ((4000, 250), 1024, 1),  # a strip of under a tile's pixels
        ((1200, 900), 1024, 2),
        ((2000, 1500), 1024, 6),
        ((1200, 900), 0, 1),  # tiles off
    ],
)
def test_a_pass_is_tiled_only_when_it_holds_more_pixels_than_a_tile(size, tile, windows):
    assert len(list(tile_windows(*size, tile))) == windows


@pytest.mark.parametrize("scale", [2.0, 1.37, 1.0, 0.5, 0.23])
@pytest.mark.parametrize("window_by_window", [False, True])
def test_a_scaled_tile_equals_the_same_window_of_the_whole_image_resized(scale, window_by_window, monkeypatch):
    """Windows of a scaled pass, enlarged window by window from their own source pixels
    (memory stays one window's) or cut from the image resized once, must be what
    resizing the whole image gives."""
    import cv2

    from deid.detect import resample

    if window_by_window:
        monkeypatch.setattr(resample, "WHOLE_UPSCALE_PIXELS", 0)
    image = load_pixels(SAMPLE_DATA / "astronaut.jpg").astype(np.uint8)
    height, width = image.shape[:2]
    scaled_w, scaled_h = round(width * scale), round(height * scale)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    whole = cv2.resize(image, (scaled_w, scaled_h), interpolation=interpolation)
    windows = list(tile_windows(scaled_w, scaled_h, 160))
    assert len(windows) > 1 or scale < 0.5
    source = resample.Resampler(image)
    for x0, y0, x1, y1 in windows:
        piece = source.window(scaled_w, scaled_h, (x0, y0, x1, y1))
        assert piece.shape == (y1 - y0, x1 - x0, 3)
        difference = np.abs(piece.astype(int) - whole[y0:y1, x0:x1])
        if window_by_window:
            # OpenCV's warp places samples on a 1/32 px grid, its resize on a finer one:
            # a few levels apart on the steepest edges, rounding apart elsewhere.
            assert difference.max() <= 4 and difference.mean() < 0.5
        else:
            assert difference.max() == 0


def test_tiles_cover_every_pixel():
    seen = np.zeros((700, 1000), bool)
    for x0, y0, x1, y1 in tile_windows(1000, 700, 256):
        assert x1 - x0 <= 256 and y1 - y0 <= 256
        seen[y0:y1, x0:x1] = True
    assert seen.all()


@pytest.mark.parametrize(
    "size, scales, tile, expected",
    [
        ((400, 300), (1.0,), 1024, [1.0]),  # fits one tile: no extra pass
        ((4000, 3000), (1.0, 2.0), 1000, [1.0, 2.0, 1000 / 12_000_000 ** 0.5]),  # adds a whole-image pass
        ((4000, 3000), (1.0,), 0, [1.0]),  # tiles off
        ((1200, 900), (0.75,), 1024, [0.75]),  # the smallest pass fits a tile
    ],
)
def test_pass_scales(size, scales, tile, expected):
    assert pass_scales(*size, scales, tile) == pytest.approx(expected)


def centerface(**settings) -> FaceDetector:
    return FaceDetector(DetectConfig(detectors=(DetectorConfig(name="centerface", **settings),)), "cpu")


@pytest.fixture(scope="module")
def caltech_sample(shared_data, shared_faces):
    names = sorted(n for n in shared_faces if n.startswith("caltech/"))[:40]
    return [(load_pixels(shared_data / "faces" / n).astype(np.uint8), np.asarray(shared_faces[n])) for n in names]


@pytest.mark.parametrize(
    "make_detector",
    [
        pytest.param(lambda: centerface(), id="centerface"),
        pytest.param(lambda: FaceDetector(DetectConfig(), "cpu"), id="default-ensemble"),
    ],
)
def test_detectors_find_faces_in_real_photos(caltech_sample, make_detector):
    detector = make_detector()
    hits = total = 0
    for image, truth in caltech_sample:
        found = detector.detect(image)
        big = truth[(truth[:, 3] - truth[:, 1]) >= 32]
        fractions = coverage(big, found.xyxy, "box", image.shape[1], image.shape[0])
        hits += int((fractions >= 0.5).sum())
        total += len(big)
    assert total > 30 and hits / total >= 0.9


def test_the_ensemble_counts_the_detectors_that_saw_each_face():
    """The portrait's face fills the frame: both default detectors see it, and the face is
    one box that says so; CenterFace alone sees it once."""
    image = load_pixels(SAMPLE_DATA / "astronaut_portrait.png").astype(np.uint8)
    (both,) = FaceDetector(DetectConfig(), "cpu").detect(image).seen_by
    (alone,) = centerface().detect(image).seen_by
    assert (both, alone) == (2, 1)


def test_no_faces_in_a_blank_image():
    assert len(centerface().detect(np.full((200, 300, 3), 127, np.uint8))) == 0


@pytest.mark.parametrize("face_height", [60, None])  # within the tiles' overlap; larger than a tile
def test_a_face_on_a_tile_seam_is_found_once_and_whole(caltech_sample, face_height):
    from deid.boxes import expand_boxes
    from deid.config import DEFAULT_MARGIN

    image, truth = caltech_sample[0]
    x1, y1, x2, y2 = truth[0]
    factor = face_height / (y2 - y1) if face_height else 1.0
    pad = 20
    crop = image[max(int(y1) - pad, 0) : int(y2) + pad, max(int(x1) - pad, 0) : int(x2) + pad]
    face = np.asarray(Image.fromarray(crop).resize(
        (round(crop.shape[1] * factor), round(crop.shape[0] * factor)), Image.Resampling.BILINEAR))
    canvas = np.full((700, 700, 3), 110, np.uint8)
    # The face straddles the end of the first column of tiles.
    seam = tile_spans(700, 256)[0][1]
    top, left = 150, seam - face.shape[1] // 2
    canvas[top : top + face.shape[0], left : left + face.shape[1]] = face
    box = np.array([[left + pad * factor, top + pad * factor,
                     left + (pad + x2 - x1) * factor, top + (pad + y2 - y1) * factor]])
    found = centerface(tile=256).detect(canvas)
    assert len(found) == 1
    # What protects the face is the grown region; half a face grown would cover at most 85%.
    regions = expand_boxes(found.xyxy, DEFAULT_MARGIN)
    assert coverage(box, regions, "box", 700, 700)[0] >= 0.95


def test_merge_joins_partial_boxes_from_neighbouring_tiles():
    whole = [100, 100, 200, 220]
    left_piece = [100, 105, 150, 215]  # the same face cut by a seam: inside the whole box
    merged = merge_overlapping(
        Detections(np.array([whole, left_piece], float), np.array([0.9, 0.8]), np.array(["a", "a"], object)), 0.3
    )
    assert merged.xyxy.tolist() == [whole]


def test_eval_command_scores_the_sample(tmp_path):
    out = tmp_path / "eval.json"
    result = run_cli("eval", SAMPLE_DATA, SAMPLE_DATA / "faces.json", "--workers", "1", "--json", out)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["faces"] == 3 and data["protected"] == 3
    assert set(data["by_height"]) == {"<8", "8-16", "16-32", "32-64", ">=64"}
    assert data["images_per_s"] > 0 and "config" in data
    assert "| >=64 |" in result.stdout


def test_cuda_request_without_a_gpu_falls_back_to_the_cpu_and_says_so(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes((SAMPLE_DATA / "astronaut.jpg").read_bytes())
    result = run_cli("run", src, tmp_path / "out", "--device", "cuda", "--workers", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out.report" / "summary.json").read_text())
    if "cuda" not in summary["devices"]:
        assert summary["warnings"] and "CPU" in summary["warnings"][0]
        assert "CPU" in result.stderr


def test_a_model_path_in_the_config_is_used(tmp_path):
    from deid.config import config_from_dict
    from deid.detect.centerface import shipped_model_path

    copy = tmp_path / "my-centerface.onnx"
    copy.write_bytes(shipped_model_path().read_bytes())
    config = config_from_dict({"detect": {"detectors": [{"name": "centerface", "model_path": str(copy)}]}})
    detector = FaceDetector(config.detect, "cpu")
    assert detector.model_info()[0]["model_file"] == "my-centerface.onnx"
    image = load_pixels(SAMPLE_DATA / "astronaut.jpg").astype(np.uint8)
    assert len(detector.detect(image)) >= 1


def test_a_missing_model_path_is_a_one_line_usage_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[detect.detectors]]\nname = "centerface"\nmodel_path = "nowhere/model.onnx"\n')
    (tmp_path / "src").mkdir()
    result = run_cli("run", tmp_path / "src", tmp_path / "out", "--config", config)
    assert result.returncode == 2 and "nowhere/model.onnx" in result.stderr
    assert result.stderr.count("\n") == 1


class _FirstPassFinds:
    """A detector that finds one face of ``height`` px scoring ``score`` in the first image
    it is given and nothing afterwards; it records the size of every input."""

    def __init__(self, height: float | None, score: float = 0.9) -> None:
        self.height, self.score, self.inputs = height, score, []

    def detect(self, image: np.ndarray) -> Detections:
        self.inputs.append(image.shape[:2])
        if len(self.inputs) > 1 or self.height is None:
            return Detections.empty()
        return Detections(np.array([[10.0, 10.0, 10.0 + self.height, 10.0 + self.height]]), np.array([self.score]), np.array(["fake"]))


@pytest.mark.parametrize(
    "upscale_below, face_height, score, closer_look",
    [
        (0.0, None, 0.9, True),  # off: every pass runs
        (0.0, 100.0, 0.9, True),
        (32.0, None, 0.9, False),  # nothing small found: no closer look
        (32.0, 40.0, 0.9, False),
        (32.0, 20.0, 0.9, True),  # a small face flags the image
        (32.0, 20.0, 0.2, True),  # a small candidate at the trigger's score is enough
        (32.0, 20.0, 0.1, False),  # below it, not
    ],
)
def test_the_closer_look_runs_only_where_small_faces_may_be(upscale_below, face_height, score, closer_look):
    detector = _FirstPassFinds(face_height, score)
    settings = DetectorConfig(scales=(1.0, 2.0), flip=True, upscale_below=upscale_below, upscale_score=0.15,
                              candidate_threshold=0.05, confirm_score=0.07)
    passes = run_passes(detector, np.zeros((200, 300, 3), np.uint8), settings)
    assert len(passes) == 4  # native, 2x, mirrored, mirrored 2x: one result each
    assert detector.inputs[0] == (200, 300)  # native first
    assert len(detector.inputs) == (4 if closer_look else 1)
    # Every pass over the whole image where the closer look is not limited (strict);
    # otherwise only around the face found: the 2x pass sees a crop, not 400 x 600.
    assert ((400, 600) in detector.inputs) == (closer_look and not upscale_below)
    if closer_look and upscale_below:
        assert all(h * w < 0.4 * 400 * 600 for h, w in detector.inputs[1:])
    assert sum(len(p) for p in passes) == (face_height is not None)


SMALL_FACE = [100.0, 100.0, 120.0, 124.0]


@pytest.mark.parametrize(
    "boxes, expected",
    [
        ([], "none"),  # nothing found: nowhere to look
        ([(SMALL_FACE, 0.9)], "around"),  # a small face: around it
        ([(SMALL_FACE, 0.06)], "around"),  # a small candidate, however weak
        ([([100, 100, 200, 220], 0.2)], "around"),  # a larger candidate at the closer look's score
        ([([100, 100, 200, 220], 0.1)], "none"),  # under it: not a seed of its own
        ([([100, 100, 200, 220], 0.9)], "none"),  # a large confident face needs no closer look
        ([(SMALL_FACE, 0.9), ([130, 100, 150, 124], 0.5)], "around"),  # neighbours: one region
        ([([x, y, x + 20, y + 24], 0.5) for x in range(0, 1200, 60) for y in range(0, 800, 60)], "whole"),
    ],
)
def test_the_closer_look_looks_around_the_seeds(boxes, expected):
    settings = DetectorConfig(scales=(1.0, 1.5), flip=True, upscale_below=32.0, upscale_score=0.15,
                              candidate_threshold=0.05, confirm_score=0.07)
    found = _boxes([(b, s) for b, s in boxes])
    regions = closer_look_regions(found, settings, 1200, 800)
    if expected == "none":
        assert regions == []
    elif expected == "whole":
        assert regions == [(0, 0, 1200, 800)]
    else:
        assert len(regions) == 1
        x0, y0, x1, y1 = regions[0]
        assert x1 - x0 >= MIN_REGION and y1 - y0 >= MIN_REGION and (x1 - x0) * (y1 - y0) < 0.2 * 1200 * 800
        for box, _ in boxes:
            assert x0 <= box[0] and y0 <= box[1] and box[2] <= x1 and box[3] <= y1


def test_on_a_large_photo_the_closer_look_keeps_to_its_share_around_the_best_seeds():
    from deid.detect.closer import REGION_SHARE, WHOLE_IMAGE_PIXELS

    width, height = 2400, 1600  # above WHOLE_IMAGE_PIXELS: never looked at whole
    assert width * height > WHOLE_IMAGE_PIXELS
    settings = DetectorConfig(scales=(1.0, 1.5), flip=True, upscale_below=32.0, upscale_score=0.15,
                              candidate_threshold=0.05, confirm_score=0.07)
    # Texture everywhere (weak small candidates) and one clear small face.
    rows = [([x, y, x + 20, y + 24], 0.06) for x in range(0, width - 20, 90) for y in range(0, height - 24, 90)]
    face = [1210.0, 805.0, 1230.0, 829.0]
    regions = closer_look_regions(_boxes(rows + [(face, 0.9)]), settings, width, height)
    assert regions and regions != [(0, 0, width, height)]
    area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions)
    assert area <= REGION_SHARE * width * height
    assert any(x0 <= face[0] and y0 <= face[1] and face[2] <= x1 and face[3] <= y1 for x0, y0, x1, y1 in regions)


class _FindsBrightSquare:
    """Finds the bright pixels of its input as one box scoring 0.9."""

    name, device = "square", "cpu"

    def detect(self, image: np.ndarray) -> Detections:
        ys, xs = np.nonzero(image[:, :, 0] > 128)
        if not len(ys):
            return Detections.empty()
        return Detections(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], float), np.array([0.9]), np.array(["square"]))


@pytest.mark.parametrize("region", [(0, 0, 640, 480), (140, 60, 300, 200), (0, 0, 240, 160)])
@pytest.mark.parametrize("scale, mirrored", [(1.0, False), (1.0, True), (1.5, False), (1.5, True), (0.5, False)])
def test_a_box_found_in_any_crop_of_any_pass_maps_back_to_the_image(region, scale, mirrored):
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:140, 180:212] = 255  # x 180-212, y 100-140
    crops = pass_crops(Pass(scale, mirrored), 0, region, 640, 480, tile=256)
    assert crops
    source = Resampler(image)
    found = [crop.to_image(_FindsBrightSquare().detect(crop.pixels(source)), 640, 480) for crop in crops]
    boxes = Detections.concatenate(found)
    # A tile seam may cut the square: every piece lies on it, and together they are it.
    tolerance = 2 / scale + 1
    assert len(boxes) and np.all(boxes.xyxy[:, :2] >= np.array([180, 100]) - tolerance)
    assert np.all(boxes.xyxy[:, 2:] <= np.array([212, 140]) + tolerance)
    union = np.concatenate([boxes.xyxy[:, :2].min(axis=0), boxes.xyxy[:, 2:].max(axis=0)])
    assert np.abs(union - [180, 100, 212, 140]).max() <= tolerance


@pytest.mark.parametrize(
    "box, window, kept",
    [
        ([10, 10, 30, 30], (32, 32, 96, 96), True),  # inside the crop
        ([-5, 10, 20, 30], (32, 32, 96, 96), False),  # cut by an edge inside the image
        ([-5, 10, 20, 30], (0, 32, 64, 96), True),  # cut by the image's own edge: kept
        ([50, 40, 70, 70], (32, 32, 96, 96), False),  # past the right edge, inside the image
    ],
)
def test_a_closer_look_crop_drops_boxes_its_edges_cut(box, window, kept):
    crop = Crop(0, (200, 200), window, mirrored=False, trim=True)
    faces = crop.to_image(Detections(np.array([box], float), np.array([0.5]), np.array(["cf"])), 200, 200)
    assert len(faces) == kept


def test_centerface_gives_the_same_boxes_in_a_batch_as_one_by_one(caltech_sample):
    detector = centerface(candidate_threshold=0.05, confirm_score=0.07).detectors[0]
    crops = [np.ascontiguousarray(image[:160, :192]) for image, _ in caltech_sample[:6] if image.shape[0] >= 160 and image.shape[1] >= 192]
    assert len(crops) >= 3
    batched = detector.detect_batch(crops)
    for crop, faces in zip(crops, batched):
        alone = detector.detect(crop)
        assert len(alone) == len(faces) and np.allclose(alone.xyxy, faces.xyxy, atol=0.5)
        assert np.allclose(alone.scores, faces.scores, atol=1e-3)


def test_plan_puts_the_native_unmirrored_pass_first():
    plans = plan_passes(300, 200, DetectorConfig(scales=(1.5, 1.0), flip=True))
    assert [(p.scale, p.mirrored) for p in plans] == [(1.0, False), (1.5, False), (1.0, True), (1.5, True)]
    assert [p.closer_look for p in plans] == [False, True, True, True]


def test_a_face_found_in_the_mirrored_image_is_mapped_back(caltech_sample):
    image, truth = caltech_sample[0]
    detector = centerface().detectors[0]
    height, width = image.shape[:2]
    direct = detector.detect(image)
    crop = Crop(0, (width, height), (0, 0, width, height), mirrored=True)
    mirrored = crop.to_image(detector.detect(crop.pixels(Resampler(image))), width, height)
    assert len(direct) >= 1 and _matched(direct.xyxy, mirrored.xyxy, 0.7) == len(direct)


def _boxes(rows: list[tuple[list[float], float]]) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections(np.array([b for b, _ in rows], float), np.array([s for _, s in rows]), np.full(len(rows), "cf", object))


FACE = [100.0, 100.0, 120.0, 124.0]
NEAR = [101.0, 99.0, 121.0, 125.0]  # the same face as another pass outlines it
ELSEWHERE = [300.0, 50.0, 320.0, 74.0]


@pytest.mark.parametrize(
    "passes, kept",
    [
        ([[], [], [], []], 0),  # nothing found anywhere
        ([[(FACE, 0.9)], [], [], []], 1),  # over the threshold in one pass: a face
        ([[(FACE, 0.2)], [], [], []], 0),  # a candidate one pass saw: never confirmed
        ([[(FACE, 0.2)], [(NEAR, 0.1)], [], []], 1),  # mean 0.075 over four passes, two saw it
        ([[(FACE, 0.1)], [(NEAR, 0.1)], [], []], 0),  # mean 0.05: too weak
        ([[(FACE, 0.1)], [(NEAR, 0.1)], [(FACE, 0.1)], []], 1),  # three weak looks agree
        ([[(FACE, 0.2)], [(ELSEWHERE, 0.1)], [], []], 0),  # two passes, two places
    ],
)
def test_fusion_keeps_candidates_the_passes_agree_on(passes, kept):
    settings = DetectorConfig(threshold=0.3, candidate_threshold=0.05, confirm_score=0.07)
    fused = fuse_passes([_boxes(p) for p in passes], settings, 0.3)
    assert len(fused) == kept
    if kept:
        # The face is covered by every look at it.
        assert fused.xyxy[0].tolist() == [100.0, 99.0, 121.0, 125.0] or len(passes[1]) == 0


def test_fusion_without_a_second_look_passes_boxes_through():
    passes = [_boxes([(FACE, 0.9)]), _boxes([(ELSEWHERE, 0.5)])]
    fused = fuse_passes(passes, DetectorConfig(threshold=0.3), 0.3)
    assert len(fused) == 2


def _matched(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> int:
    """How many boxes of ``a`` have a box of ``b`` overlapping them by ``iou``."""
    from deid.boxes import box_iou

    return int((box_iou(a, b).max(axis=1, initial=0.0) >= iou).sum()) if len(a) else 0


def test_int8_centerface_finds_the_faces_float32_finds(caltech_sample):
    int8, float32 = centerface(precision="int8"), centerface(precision="float32")
    assert int8.model_info()[0]["precision"] == "int8"
    assert float32.model_info()[0]["precision"] == "float32"
    found_int8 = found_float = both = 0
    for image, _ in caltech_sample:
        a, b = int8.detect(image).xyxy, float32.detect(image).xyxy
        found_int8, found_float, both = found_int8 + len(a), found_float + len(b), both + _matched(b, a)
    assert found_float > 30
    # Rounding moves scores near the threshold: a few boxes may come or go, no more.
    assert both >= 0.95 * found_float and abs(found_int8 - found_float) <= 0.05 * found_float


def test_auto_precision_is_int8_on_the_cpu():
    assert centerface().model_info()[0]["precision"] == "int8"


def test_another_model_file_runs_in_float32_under_auto_and_is_refused_as_int8(tmp_path):
    import onnx

    from deid.detect.centerface import shipped_model_path
    from deid.errors import ConfigError

    model = onnx.load(str(shipped_model_path()))
    model.doc_string = "retrained elsewhere"  # same graph, another file
    other = tmp_path / "other.onnx"
    onnx.save(model, str(other))
    auto = centerface(model_path=str(other))
    assert auto.model_info()[0]["precision"] == "float32"
    assert auto.notes and "float32" in auto.notes[0]
    with pytest.raises(ConfigError, match="calibrate_centerface"):
        centerface(model_path=str(other), precision="int8")


def test_ranges_that_do_not_fit_the_graph_fall_back_to_float32(tmp_path, monkeypatch):
    from deid.detect import int8

    stored = json.loads(int8.CALIBRATION_PATH.read_text())
    stored["ranges"]["data"] = dict(list(stored["ranges"]["data"].items())[:5])
    broken = tmp_path / "ranges.json"
    broken.write_text(json.dumps(stored))
    monkeypatch.setattr(int8, "CALIBRATION_PATH", broken)
    detector = centerface()
    assert detector.model_info()[0]["precision"] == "float32" and detector.notes


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"name": "centerface", "precision": "int4"}, "precision must be one of"),
        ({"name": "blazeface", "precision": "int8"}, "centerface only"),
    ],
)
def test_bad_precision_settings_are_config_errors(settings, message):
    from deid.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        DetectorConfig(**settings)


def test_the_int8_graph_is_cached_and_a_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = centerface()
    (cached,) = (tmp_path / "deid").glob("centerface-int8-*.onnx")
    good = cached.read_bytes()
    image = load_pixels(SAMPLE_DATA / "astronaut.jpg").astype(np.uint8)
    expected = first.detect(image).xyxy
    from deid.detect import int8

    real_quantize = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: pytest.fail("quantized again despite the cache"))
    assert centerface().model_info()[0]["precision"] == "int8"
    monkeypatch.setattr(int8, "quantize", real_quantize)
    cached.write_bytes(good[: len(good) // 2])  # a write cut short
    rebuilt = centerface()
    assert rebuilt.model_info()[0]["precision"] == "int8"
    assert cached.read_bytes() == good
    np.testing.assert_array_equal(rebuilt.detect(image).xyxy, expected)
    assert len(expected) >= 1


def test_the_uint8_input_graph_computes_what_the_quantizer_wrote():
    import json

    import onnxruntime

    from deid.detect import int8
    from deid.detect.centerface import INPUT_NAME, OUTPUT_NAMES, float_model, shipped_model_path

    calibration = json.loads(int8.CALIBRATION_PATH.read_text())
    data = shipped_model_path().read_bytes()
    written = int8.quantize(float_model(data), calibration)
    direct = int8.with_uint8_input(int8.quantize(float_model(data), calibration))
    assert len(direct.graph.node) == len(written.graph.node) - 1
    image = load_pixels(SAMPLE_DATA / "astronaut.jpg").astype(np.uint8)[:256, :320]
    pixels = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
    sessions = [onnxruntime.InferenceSession(m.SerializeToString(), providers=[CPU_PROVIDER]) for m in (written, direct)]
    before = sessions[0].run(list(OUTPUT_NAMES), {INPUT_NAME: pixels.astype(np.float32)})
    after = sessions[1].run(list(OUTPUT_NAMES), {INPUT_NAME: pixels})
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert before[0].max() > 0.5  # the astronaut's face is in the crop


def test_no_home_folder_means_no_cache_not_a_failure(monkeypatch):
    from pathlib import Path

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    detector = centerface()
    assert detector.model_info()[0]["precision"] == "int8"
    image = load_pixels(SAMPLE_DATA / "astronaut.jpg").astype(np.uint8)
    assert len(detector.detect(image)) >= 1


@pytest.mark.parametrize(
    "regions, protected, false_regions",
    [
        ([], 0, 0),  # nothing covered
        ([[0, 0, 20, 20]], 1, 0),  # the face
        ([[0, 0, 20, 20], [50, 50, 60, 60]], 1, 0),  # and the ignored face: not a false region
        ([[50, 50, 60, 60], [80, 0, 90, 10]], 0, 1),  # the ignored face does not count as protected
    ],
)
def test_eval_counts_ignored_faces_neither_way(regions, protected, false_regions):
    from deid.evaluate import GroundTruth, score_records

    truth = {"a.jpg": GroundTruth([[2, 2, 18, 18]], [[52, 52, 58, 58]])}
    record = {"source": "a.jpg", "status": "ok", "width": 100, "height": 100,
              "faces": [{"region": r} for r in regions]}
    result = score_records(truth, [record], "box")
    assert result.protection.faces == 1 and result.ignored_faces == 1
    assert result.protection.protected == protected and result.false_regions == false_regions
    assert len(result.missed) == 1 - protected


def test_eval_json_keeps_the_published_layout():
    """``deid eval --out`` writes this layout and people parse it: the key names and their
    order stay as published."""
    import dataclasses

    from deid.evaluate import GroundTruth, score_records

    truth = {"a.jpg": GroundTruth([[2, 2, 14, 14], [30, 30, 70, 70]], [], [[0, 80, 60, 95]], [True])}
    record = {"source": "a.jpg", "status": "ok", "width": 100, "height": 100,
              "faces": [{"region": [28, 28, 72, 72]}], "texts": [{"region": [0, 80, 60, 95]}]}
    result = dataclasses.replace(score_records(truth, [record], "box"), files_processed=1, images_per_s=2.5,
                                 wall_time_s=0.4, config={"workers": 1})
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == [
        "faces", "protected", "protected_rate", "protected_rate_16px_and_up", "by_height", "images",
        "images_not_processed", "false_regions", "ignored_faces", "missed", "text", "files_processed",
        "images_per_s", "wall_time_s", "config",
    ]
    assert list(data["by_height"]) == ["<8", "8-16", "16-32", "32-64", ">=64"]
    assert data["by_height"]["32-64"] == {"faces": 1, "protected": 1, "rate": 1.0}
    assert data["by_height"]["8-16"] == {"faces": 1, "protected": 0, "rate": 0.0}
    assert data["missed"] == [{"image": "a.jpg", "box": [2.0, 2.0, 14.0, 14.0], "covered": 0.0}]
    assert data["protected_rate"] == 0.5 and data["protected_rate_16px_and_up"] == 1.0
    assert list(data["text"]) == [
        "regions", "regions_12px_and_up", "covered_rate_12px_and_up", "identifying_12px_and_up",
        "identifying_covered_rate_12px_and_up", "other_12px_and_up", "other_left_alone_rate_12px_and_up",
        "other_left_alone_by_text_stage_12px_and_up", "false_regions",
    ]
    assert data["text"]["identifying_covered_rate_12px_and_up"] == 1.0 and data["text"]["false_regions"] == 0
    assert (data["files_processed"], data["images_per_s"], data["config"]) == (1, 2.5, {"workers": 1})


def test_eval_of_ground_truth_without_faces_has_no_rates():
    from deid.evaluate import GroundTruth, format_table, score_records

    truth = {"a.jpg": GroundTruth([], [])}
    record = {"source": "a.jpg", "status": "ok", "width": 100, "height": 100, "faces": [{"region": [10, 10, 30, 30]}]}
    result = score_records(truth, [record], "box")
    protection = result.protection
    assert (protection.faces, protection.protected_rate, protection.recognisable_rate) == (0, None, None)
    assert all(band.faces == 0 and band.rate is None for band in protection.by_height.values())
    assert result.false_regions == 1 and result.missed == [] and result.text is None
    data = result.to_json()
    assert data["protected_rate"] is None and "text" not in data
    assert "protected: 0 (n/a)" in format_table(result)


# Real crowd photos (WIDER FACE, ../shared/data/faces/wider) whose clear faces of 16-32 px
# CenterFace scores just under its threshold: the previous default, without the closer
# look and the second look, left 25 of their 182 faces >= 16 px uncovered.
UNDER_THRESHOLD_CROWDS = (
    "wider/2_Demonstration_Demonstrators_2_378.jpg",
    "wider/2_Demonstration_Demonstration_Or_Protest_2_58.jpg",
    "wider/0_Parade_Parade_0_490.jpg",
    "wider/7_Cheering_Cheering_7_345.jpg",
)


def _protected_in_crowds(shared_data, shared_faces, config) -> tuple[int, int]:
    from deid.anonymize import build_anonymizer
    from deid.evaluate import PROTECTED_COVERAGE, RECOGNISABLE_HEIGHT

    detector, anonymizer = FaceDetector(config.detect, "cpu"), build_anonymizer(config.anonymize)
    protected = total = 0
    for name in UNDER_THRESHOLD_CROWDS:
        image = load_pixels(shared_data / "faces" / name).astype(np.uint8)
        truth = np.asarray(shared_faces[name])
        truth = truth[(truth[:, 3] - truth[:, 1]) >= RECOGNISABLE_HEIGHT]
        regions = anonymizer.regions(detector.detect(image), image.shape[1], image.shape[0])
        protected += int((coverage(truth, regions, "box", image.shape[1], image.shape[0]) >= PROTECTED_COVERAGE).sum())
        total += len(truth)
    return protected, total


def test_faces_just_under_the_threshold_in_real_crowds_are_covered(shared_data, shared_faces):
    from deid.config import AnonymizeConfig, Config

    protected, total = _protected_in_crowds(shared_data, shared_faces, Config())
    assert total == 182 and protected >= 0.97 * total
    # The same detectors at the threshold alone, with the previous fixed margin: the
    # closer look, the second look and the growing margins are what covers them.
    single_look = Config(
        detect=DetectConfig(detectors=(DetectorConfig(name="centerface", scales=(1.0, 2.0), tile=1024, upscale_below=32.0),
                                       DetectorConfig(name="blazeface", variant="short"))),
        anonymize=AnonymizeConfig(margin_low_score=0.0, margin_small_face=0.0),
    )
    protected_before, _ = _protected_in_crowds(shared_data, shared_faces, single_look)
    assert protected_before <= 0.9 * total


def test_eval_speed_counts_every_file_processed(tmp_path):
    """images/s is over the files the run processed, not only those with ground truth."""
    folder = tmp_path / "photos"
    shutil.copytree(SAMPLE_DATA, folder)
    shutil.copy(SAMPLE_DATA / "astronaut.jpg", folder / "no_truth.jpg")
    out = tmp_path / "eval.json"
    result = run_cli("eval", folder, folder / "faces.json", "--workers", "1", "--json", out)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["images"] == 3 and data["files_processed"] == 4
    assert data["images_per_s"] == round(4 / data["wall_time_s"], 2)

"""Nutri-Score detector: onnxruntime on a tiny model with a YOLO detector's signature (tests/support)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipelines.predictors.rules.nutriscore import (
    IOU_THRESHOLD,
    MODEL_VERSION,
    ImageDecodeError,
    NutriscoreDetector,
    NutriscoreModelError,
    _suppress,
)
from tests.support.onnx_models import solid_image, yolo_nutriscore_model

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
SOURCE = "/301/762/042/2003/4.jpg"


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> NutriscoreDetector:
    path = yolo_nutriscore_model(tmp_path_factory.mktemp("models") / "nutriscore.onnx")
    return NutriscoreDetector(path).load()


def _predict(detector: NutriscoreDetector, image: bytes) -> list[dict]:
    table = detector.predictions(image, barcode="3017620422003", source_image=SOURCE, server_type="off")
    return table.to_pylist()


def test_one_nutriscore_gives_robotoffs_label_prediction(detector: NutriscoreDetector) -> None:
    [row] = _predict(detector, solid_image(RED))
    assert {k: row[k] for k in ("type", "value_tag", "automatic_processing", "predictor")} == {
        "type": "label",
        "value_tag": "en:nutriscore-grade-a",
        "automatic_processing": False,
        "predictor": "nutriscore",
    }
    assert (row["predictor_version"], row["source_image"], row["server_type"]) == (
        MODEL_VERSION,
        SOURCE,
        "off",
    )
    assert row["confidence"] > 0.99
    # box 0 (cx 100, cy 100, w 80, h 40 model pixels) on a square image: relative y_min, x_min, y_max, x_max
    box = orjson.loads(row["data"])["bounding_box"]
    assert box == pytest.approx([80 / 640, 60 / 640, 120 / 640, 140 / 640], abs=1e-6)


def test_boxes_are_mapped_back_to_a_portrait_image(detector: NutriscoreDetector) -> None:
    # 200 x 400 pasted top-left on a 400 x 400 black square: half the square is red, box 1 still loses
    [found, *_] = detector.detect(solid_image(RED, width=200, height=400))
    assert found.label == "nutriscore-a"
    assert found.bounding_box == pytest.approx((80 / 640, 60 / 320, 120 / 640, 140 / 320), abs=1e-6)
    [row] = _predict(detector, solid_image(RED, width=200, height=400))
    assert row["value_tag"] == "en:nutriscore-grade-a"


def test_overlapping_boxes_are_suppressed_and_two_nutriscores_give_nothing(
    detector: NutriscoreDetector,
) -> None:
    assert [d.label for d in detector.detect(solid_image(RED))] == ["nutriscore-a"]  # box 1 suppressed
    assert sorted(d.label for d in detector.detect(solid_image(GREEN))) == ["nutriscore-c", "nutriscore-e"]
    assert _predict(detector, solid_image(GREEN)) == []  # Robotoff discards ambiguous images
    assert detector.detect(solid_image(BLUE)) == []
    assert _predict(detector, solid_image(BLUE, fmt="PNG")) == []


def test_bad_images_and_models_are_refused_clearly(detector: NutriscoreDetector, tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError):
        detector.detect(b"<html>not found</html>")
    with pytest.raises(ImageDecodeError):
        detector.detect(solid_image(RED)[:200])  # truncated JPEG
    three_labels = yolo_nutriscore_model(tmp_path / "three.onnx", labels=3)
    with pytest.raises(NutriscoreModelError, match="output must be"):
        NutriscoreDetector(three_labels).load()
    small = yolo_nutriscore_model(tmp_path / "small.onnx", size=320)
    assert NutriscoreDetector(small).load().detect(solid_image(RED))[0].label == "nutriscore-a"
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(NutriscoreModelError, match="cannot load"):
        NutriscoreDetector(garbage).load()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


_corners = arrays(np.float32, (12, 2), elements=st.floats(0, 1, width=32))
_scores = arrays(np.float32, 12, elements=st.floats(0.5, 1, width=32))


@given(_corners, _corners, _scores, st.integers(1, 12))
def test_suppression_keeps_no_overlapping_pair_and_drops_only_overlapped_boxes(
    start: np.ndarray, end: np.ndarray, scores: np.ndarray, count: int
) -> None:
    low, high = np.minimum(start, end)[:count], np.maximum(start, end)[:count]
    boxes = np.concatenate([low, high], axis=1)  # y_min, x_min, y_max, x_max
    scores = scores[:count]
    kept = _suppress(boxes, scores, IOU_THRESHOLD)
    assert kept and kept[0] == int(np.argmax(scores))
    for i, a in enumerate(kept):
        for b in kept[i + 1 :]:
            assert _iou(boxes[a], boxes[b]) <= IOU_THRESHOLD + 1e-6
    for dropped in set(range(count)) - set(kept):
        assert any(
            _iou(boxes[k], boxes[dropped]) > IOU_THRESHOLD - 1e-6 and scores[k] >= scores[dropped]
            for k in kept
        )

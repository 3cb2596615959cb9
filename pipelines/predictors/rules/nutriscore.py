"""Nutri-Score detector: a YOLO object-detection model run with onnxruntime on an image whose OCR text
mentions the Nutri-Score (Robotoff's ``nutriscore`` predictor, ``robotoff/workers/tasks/import_image.py``).

Robotoff serves an Ultralytics YOLO model (``yolo-nutriscore-1.0``, labels ``nutriscore-a`` … ``-e``) on
Triton; we run the same kind of model file in process. The model's contract, checked when it is loaded:

- one input, ``float32[N, 3, S, S]`` (RGB, values in [0, 1]); the image is pasted in the top-left corner
  of a black square of its longer side and resized to ``S`` (640), as Robotoff prepares it;
- one output, ``float32[N, 4 + labels, boxes]``: per candidate box its centre x, y, width and height in
  input pixels, then one score per label.

Post-processing follows Robotoff: a box's label is its best-scoring class, boxes scoring under 0.5 are
dropped, boxes are made relative to the original image as ``(y_min, x_min, y_max, x_max)`` clipped to
[0, 1], overlapping boxes are suppressed (IoU > 0.45). The prediction rule: exactly one detection at or above
0.5 gives a ``label`` prediction ``en:nutriscore-grade-<x>``, ``automatic_processing`` false, its score as
confidence and ``{"bounding_box": …}`` as data; none or several give nothing. One deliberate difference:
Robotoff hands OpenCV's ``NMSBoxes`` corner coordinates where it expects ``(x, y, width, height)``; we
suppress on true overlaps.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.common.errors import OffpipeError
from pipelines.store.schema import empty_predictions, predictions_from_rows

logger = logging.getLogger(__name__)

PREDICTOR = "nutriscore"
MODEL_VERSION = "yolo-nutriscore-1.0"
LABELS = ("nutriscore-a", "nutriscore-b", "nutriscore-c", "nutriscore-d", "nutriscore-e")
TRIGGER_TAG = "en:nutriscore"  # the OCR label prediction that makes an image worth the detector
SCORE_THRESHOLD = 0.5
IOU_THRESHOLD = 0.45
IMAGE_SIZE = 640
MAX_IMAGE_PIXELS = 80_000_000  # larger images are refused (decompression bombs)


class NutriscoreModelError(OffpipeError, ValueError):
    """The model file cannot be used: unreadable, or not the detector's input/output signature."""


class ImageDecodeError(OffpipeError, ValueError):
    """The image bytes are not a readable image."""


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    bounding_box: tuple[float, float, float, float]  # y_min, x_min, y_max, x_max, relative


def grade_tag(label: str) -> str:
    """``nutriscore-b`` → ``en:nutriscore-grade-b`` (Robotoff's mapping)."""
    return "en:nutriscore-grade-" + label.removeprefix("nutriscore-")


class NutriscoreDetector:
    """One ONNX model loaded once (per process) and run on one image at a time."""

    def __init__(
        self,
        model_path: Path,
        *,
        labels: Sequence[str] = LABELS,
        version: str = MODEL_VERSION,
        threads: int = 1,
    ) -> None:
        self.model_path = Path(model_path)
        self.labels = tuple(labels)
        self.version = version
        self.threads = threads

    @cached_property
    def _session(self):
        from pipelines.common.onnx_runtime import ort  # telemetry off before the import

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads  # the listener's other work keeps the other core
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise NutriscoreModelError(f"cannot load {self.model_path}: {exc}") from exc
        self._check_signature(session)
        return session

    def _check_signature(self, session) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise NutriscoreModelError(
                f"{self.model_path}: expected 1 input and 1 output, found {len(inputs)} and {len(outputs)}"
            )
        shape, out_shape = inputs[0].shape, outputs[0].shape
        if inputs[0].type != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
            raise NutriscoreModelError(f"{self.model_path}: input must be float[N, 3, S, S], is {shape}")
        size = shape[2]
        if not (isinstance(size, int) and size == shape[3] and size > 0):
            raise NutriscoreModelError(f"{self.model_path}: input must be a fixed square, is {shape}")
        expected = 4 + len(self.labels)
        if len(out_shape) != 3 or (isinstance(out_shape[1], int) and out_shape[1] != expected):
            raise NutriscoreModelError(
                f"{self.model_path}: output must be float[N, {expected}, boxes] for {len(self.labels)} "
                f"labels, is {out_shape}"
            )
        self.image_size = size
        self._input_name = inputs[0].name

    def load(self) -> NutriscoreDetector:
        """Load and check the model now (the listener does it at startup)."""
        _ = self._session
        return self

    def detect(self, image_bytes: bytes) -> list[Detection]:
        """Detections of one image (JPEG, PNG… bytes), best first."""
        session = self._session
        array, scale_x, scale_y = prepare_image(image_bytes, self.image_size)
        [output] = session.run(None, {self._input_name: array})
        return postprocess(np.asarray(output, dtype=np.float32)[0], self.labels, scale_x, scale_y)

    def predictions(
        self, image_bytes: bytes, *, barcode: str, source_image: str, server_type: str
    ) -> pa.Table:
        """The prediction rows Robotoff's rule makes of one image (none unless exactly one detection)."""
        kept = [d for d in self.detect(image_bytes) if d.score >= SCORE_THRESHOLD]
        if len(kept) != 1:
            if kept:
                logger.info("%s %s: %d Nutri-Scores detected, none kept", barcode, source_image, len(kept))
            return empty_predictions()
        [found] = kept
        row = {
            "type": "label",
            "barcode": barcode,
            "server_type": server_type,
            "value": None,
            "value_tag": grade_tag(found.label),
            "data": {"bounding_box": [round(v, 6) for v in found.bounding_box]},
            "automatic_processing": False,
            "predictor": PREDICTOR,
            "predictor_version": self.version,
            "source_image": source_image,
            "confidence": round(found.score, 6),
        }
        return predictions_from_rows([row])


def prepare_image(image_bytes: bytes, size: int) -> tuple[np.ndarray, float, float]:
    """``float32[1, 3, size, size]`` of the image pasted top-left on a black square, and the scales that
    map model pixels back to the original image's relative coordinates."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(image_bytes)) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"not a readable image: {exc}") from exc
    width, height = image.size
    side = max(width, height)
    square = Image.new("RGB", (side, side), color="black")
    square.paste(image, (0, 0))
    resized = square.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(resized, dtype=np.float32).transpose(2, 0, 1)[np.newaxis] / 255.0
    ratio = width / height
    scale_x, scale_y = (size * ratio, float(size)) if ratio < 1 else (float(size), size / ratio)
    return np.ascontiguousarray(array, dtype=np.float32), scale_x, scale_y


def postprocess(output: np.ndarray, labels: Sequence[str], scale_x: float, scale_y: float) -> list[Detection]:
    """Boxes of one image's output ``[4 + labels, boxes]`` → detections after threshold and suppression."""
    if output.ndim != 2 or output.shape[0] != 4 + len(labels):
        raise NutriscoreModelError(f"output of shape {output.shape} for {len(labels)} labels")
    scores_by_class = output[4:]
    classes = scores_by_class.argmax(axis=0)
    scores = scores_by_class.max(axis=0)
    keep = scores >= SCORE_THRESHOLD
    cx, cy, w, h = output[0, keep], output[1, keep], output[2, keep], output[3, keep]
    x_min, y_min = cx - w / 2, cy - h / 2
    boxes = np.stack(
        [y_min / scale_y, x_min / scale_x, (y_min + h) / scale_y, (x_min + w) / scale_x], axis=1
    ).clip(0.0, 1.0)
    scores, classes = scores[keep], classes[keep]
    chosen = _suppress(boxes, scores, IOU_THRESHOLD)
    return [
        Detection(labels[int(classes[i])], float(scores[i]), tuple(float(v) for v in boxes[i]))  # type: ignore[arg-type]
        for i in chosen
    ]


def _suppress(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(int(best))
        if not order:
            break
        rest = np.array(order)
        top = np.maximum(boxes[best, 0], boxes[rest, 0])
        left = np.maximum(boxes[best, 1], boxes[rest, 1])
        bottom = np.minimum(boxes[best, 2], boxes[rest, 2])
        right = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = (bottom - top).clip(0) * (right - left).clip(0)
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        order = [int(i) for i, overlap in zip(rest, iou, strict=True) if overlap <= iou_threshold]
    return kept

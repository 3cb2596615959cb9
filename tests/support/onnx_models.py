"""Tiny ONNX models with real models' signatures, built by hand with the ``onnx`` package.

``yolo_nutriscore_model``: the input/output contract of an Ultralytics YOLO detector
(``images: float[N, 3, 640, 640]`` → ``output0: float[N, 4 + 5, boxes]``) with behaviour a test can steer
through the image's colour. Its boxes are fixed (in model pixels); its class scores are
``sigmoid(mean RGB · W + b)``:

- box 0 ``(cx 100, cy 100, w 80, h 40)``: grade a when the image is red, grade c when it is green;
- box 1 overlaps box 0 (IoU ≈ 0.82): grade a, a little less sure, when red — suppression must drop it;
- box 2 ``(400, 300, 60, 60)``: grade e when green (so a green image has two Nutri-Scores: no prediction);
- a blue or black image scores nothing above 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BOXES = np.array([[100, 104, 400], [100, 100, 300], [80, 80, 60], [40, 40, 60]], dtype=np.float32)
RED_A_BOX0, RED_A_BOX1, GREEN_C_BOX0, GREEN_E_BOX2 = 40.0, 30.0, 40.0, 40.0


def _score_weights(labels: int = 5, boxes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``W[3, labels * boxes]`` and ``b`` laid out as the output's ``[labels, boxes]`` flattened."""
    weights = np.zeros((3, labels, boxes), dtype=np.float32)
    weights[0, 0, 0] = RED_A_BOX0  # red → a on box 0
    weights[0, 0, 1] = RED_A_BOX1  # red → a on box 1 (suppressed)
    weights[1, 2, 0] = GREEN_C_BOX0  # green → c on box 0
    weights[1, labels - 1, 2] = GREEN_E_BOX2  # green → the last label (e) on box 2
    bias = np.full((labels, boxes), -10.0, dtype=np.float32)
    return weights.reshape(3, labels * boxes), bias.reshape(labels * boxes)


def yolo_nutriscore_model(path: Path, *, size: int = 640, labels: int = 5, opset: int = 18) -> Path:
    """Write the model to ``path`` and return it."""
    weights, bias = _score_weights(labels)
    nodes = [
        helper.make_node("ReduceMean", ["images", "hw_axes"], ["mean"], keepdims=0),  # [N, 3]
        helper.make_node("MatMul", ["mean", "weights"], ["logits_flat"]),  # [N, labels * 3]
        helper.make_node("Add", ["logits_flat", "bias"], ["biased"]),
        helper.make_node("Sigmoid", ["biased"], ["scores_flat"]),
        helper.make_node("Reshape", ["scores_flat", "scores_shape"], ["scores"]),  # [N, labels, 3]
        helper.make_node("Shape", ["images"], ["in_shape"], end=1),  # [N]
        helper.make_node("Concat", ["in_shape", "box_tail"], ["box_shape"], axis=0),  # [N, 4, 3]
        helper.make_node("Expand", ["boxes", "box_shape"], ["boxes_n"]),  # [1, 4, 3] → [N, 4, 3]
        helper.make_node("Concat", ["boxes_n", "scores"], ["output0"], axis=1),  # [N, 4 + labels, 3]
    ]
    initializers = [
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "hw_axes"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(np.array([-1, labels, 3], dtype=np.int64), "scores_shape"),
        numpy_helper.from_array(np.array([4, 3], dtype=np.int64), "box_tail"),
        numpy_helper.from_array(BOXES[np.newaxis], "boxes"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-yolo-nutriscore",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 4 + labels, 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def solid_image(
    colour: tuple[int, int, int], width: int = 300, height: int = 300, fmt: str = "JPEG"
) -> bytes:
    """An image of one colour, encoded (JPEG by default, as on Product Opener's image server)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format=fmt)
    return out.getvalue()

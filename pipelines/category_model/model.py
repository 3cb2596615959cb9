"""The classifier: an embedding bag over token ids, nutrient features beside it, one sigmoid per category.

``scores = sigmoid(concat(mean of the product's token embeddings, features) @ weights + bias)``

The same arithmetic exists twice, on purpose: :meth:`CategoryModel.forward` in numpy (training, and the
reference the ONNX graph is tested against) and :func:`to_onnx`, the graph onnxruntime runs in production:
``Gather → Mul(mask) → ReduceSum → Div(count) → Concat → MatMul → Add → Sigmoid``. The ONNX contract, also
that of a bring-your-own model: inputs ``tokens`` int64 ``[N, L]`` (0 = padding) and ``features`` float32
``[N, F]``; output ``scores`` float32 ``[N, categories]`` in the order of the labels file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
INPUT_TOKENS = "tokens"
INPUT_FEATURES = "features"
OUTPUT_SCORES = "scores"


@dataclass
class CategoryModel:
    """Parameters: ``embeddings`` [vocab, dim] (row 0, padding, stays zero), ``weights`` [dim + features,
    categories], ``bias`` [categories]."""

    embeddings: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def initial(
        cls, vocab_size: int, dim: int, features: int, categories: int, *, seed: int
    ) -> CategoryModel:
        """Small random embeddings, zero classifier: deterministic for a seed."""
        rng = np.random.default_rng(seed)
        embeddings = (rng.standard_normal((vocab_size, dim)) * 0.1).astype(np.float32)
        embeddings[0] = 0.0
        weights = np.zeros((dim + features, categories), dtype=np.float32)
        bias = np.full(categories, -4.0, dtype=np.float32)  # categories are rare: start near "no"
        return cls(embeddings, weights, bias)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def pooled(self, tokens: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``h`` (mean embedding of the non-padding tokens, then the features) and each row's token count."""
        mask = (tokens > 0).astype(np.float32)
        count = np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        summed = np.einsum("nld,nl->nd", self.embeddings[tokens], mask, optimize=True)
        return np.concatenate([summed / count, features.astype(np.float32)], axis=1), count

    def forward(self, tokens: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Scores [N, categories] in numpy."""
        hidden, _ = self.pooled(tokens, features)
        return _sigmoid(hidden @ self.weights + self.bias)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def to_onnx(model: CategoryModel, *, doc: str = "") -> onnx.ModelProto:
    """The model as an ONNX graph (opset 18), checked by ``onnx.checker``."""
    features = model.weights.shape[0] - model.dim
    categories = model.weights.shape[1]
    initializers = [
        numpy_helper.from_array(model.embeddings.astype(np.float32), "embeddings"),
        numpy_helper.from_array(model.weights.astype(np.float32), "weights"),
        numpy_helper.from_array(model.bias.astype(np.float32), "bias"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_tokens"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Gather", ["embeddings", INPUT_TOKENS], ["embedded"], axis=0),
        helper.make_node("Greater", [INPUT_TOKENS, "zero"], ["present"]),
        helper.make_node("Cast", ["present"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "axis_last"], ["mask3"]),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis_tokens"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "axis_tokens"], ["count_raw"], keepdims=1),
        helper.make_node("Max", ["count_raw", "one"], ["count"]),
        helper.make_node("Div", ["summed", "count"], ["mean"]),
        helper.make_node("Concat", ["mean", INPUT_FEATURES], ["hidden"], axis=1),
        helper.make_node("MatMul", ["hidden", "weights"], ["linear"]),
        helper.make_node("Add", ["linear", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], [OUTPUT_SCORES]),
    ]
    graph = helper.make_graph(
        nodes,
        "category_embedding_bag",
        [
            helper.make_tensor_value_info(INPUT_TOKENS, TensorProto.INT64, ["N", "L"]),
            helper.make_tensor_value_info(INPUT_FEATURES, TensorProto.FLOAT, ["N", features]),
        ],
        [helper.make_tensor_value_info(OUTPUT_SCORES, TensorProto.FLOAT, ["N", categories])],
        initializer=initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], doc_string=doc)
    proto.ir_version = min(proto.ir_version, 10)  # what the installed onnxruntime reads
    onnx.checker.check_model(proto)
    return proto

"""The ONNX graph computes what the numpy model computes; training is deterministic and learns a planted
signal; the quality figures are right on a hand-checked case."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.category_model.features import FEATURES, Inputs
from pipelines.category_model.metrics import quality
from pipelines.category_model.model import CategoryModel, to_onnx
from pipelines.category_model.train import (
    NoLabelsError,
    Targets,
    TrainConfig,
    choose_labels,
    held_out,
    label_matrix,
    train,
)
from pipelines.common.onnx_runtime import ort


def _session(model: CategoryModel) -> ort.InferenceSession:
    return ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])


def test_onnx_graph_equals_the_numpy_forward() -> None:
    rng = np.random.default_rng(3)
    model = CategoryModel(
        embeddings=rng.standard_normal((50, 8)).astype(np.float32),
        weights=rng.standard_normal((8 + FEATURES, 5)).astype(np.float32),
        bias=rng.standard_normal(5).astype(np.float32),
    )
    tokens = rng.integers(0, 50, size=(32, 12)).astype(np.int64)
    tokens[0] = 0  # a product without tokens: features alone
    tokens[1, 3:] = 0
    features = rng.random((32, FEATURES)).astype(np.float32)
    session = _session(model)
    assert [i.name for i in session.get_inputs()] == ["tokens", "features"]
    assert [o.name for o in session.get_outputs()] == ["scores"]
    (scores,) = session.run(None, {"tokens": tokens, "features": features})
    np.testing.assert_allclose(scores, model.forward(tokens, features), rtol=1e-5, atol=1e-6)
    expected_first = 1 / (1 + np.exp(-(features[0] @ model.weights[8:] + model.bias)))
    np.testing.assert_allclose(scores[0], expected_first, rtol=1e-5)  # padding contributes nothing


def _planted(products: int, seed: int) -> tuple[Inputs, np.ndarray]:
    """Category k is carried by products holding token 10 + k (with noise tokens); category 3 is the parent
    of categories 0 and 1."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((products, 6), dtype=np.int64)
    targets = np.zeros((products, 4), dtype=bool)
    for row in range(products):
        k = int(rng.integers(0, 3))
        tokens[row, 0] = 10 + k
        noise = int(rng.integers(0, 5))
        tokens[row, 1 : 1 + noise] = rng.integers(100, 400, size=noise)
        targets[row, k] = True
        targets[row, 3] = k in (0, 1)
    return Inputs(tokens, np.zeros((products, FEATURES), dtype=np.float32)), targets


def test_training_learns_a_planted_signal_and_is_deterministic() -> None:
    inputs, targets = _planted(3000, seed=1)
    config = TrainConfig(vocab_size=512, dim=8, epochs=3, batch_size=128, learning_rate=0.05, seed=7)
    first = train(inputs, targets, config)
    second = train(inputs, targets, config)
    assert np.array_equal(first.embeddings, second.embeddings) and np.array_equal(
        first.weights, second.weights
    )
    held, truth = _planted(500, seed=2)
    report = quality(first.forward(held.tokens, held.features), truth, ["a", "b", "c", "ab"])
    assert report["micro_f1"] >= 0.95 and report["precision_at_1"] >= 0.95
    assert not first.embeddings[0].any()  # padding row never trained
    other = train(inputs, targets, TrainConfig(**{**config.__dict__, "seed": 8}))
    assert not np.array_equal(other.embeddings, first.embeddings)


def test_no_label_means_nothing_to_learn() -> None:
    inputs, targets = _planted(10, seed=1)
    with pytest.raises(NoLabelsError):
        train(inputs, targets[:, :0], TrainConfig(vocab_size=512, dim=4))


def test_labels_are_the_categories_with_enough_products() -> None:
    categories = pl.Series(
        [["en:a", "en:b"], ["en:a"], ["en:a", "en:a"], None, ["en:b", "en:c"], []], dtype=pl.List(pl.String)
    )
    assert choose_labels(categories, 2) == ["en:a", "en:b"]  # a product counts once per tag
    assert choose_labels(categories, 4) == []
    matrix = label_matrix(categories, ["en:a", "en:c"])
    assert matrix.tolist() == [[True, False], [True, False], [True, False], [False, False], [False, True],
                               [False, False]]  # fmt: skip


def test_held_out_split_is_stable_and_near_its_fraction() -> None:
    codes = [f"{i:013d}" for i in range(20_000)]
    mask = held_out(codes, 0.1)
    assert 0.09 < mask.mean() < 0.11
    assert np.array_equal(mask, held_out(list(reversed(codes)), 0.1)[::-1])  # per product, not per position
    assert not held_out(codes, 0.0).any() and held_out(codes[:100], 1.0).all()


def test_quality_figures_on_a_hand_checked_case() -> None:
    labels = ["x", "y", "z"]
    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, 0.6, 0.1], [0.8, 0.2, 0.1], [0.45, 0.1, 0.4], [0.3, 0.7, 0.0]], dtype=np.float32)
    report = quality(scores, truth, labels, uncategorized=np.array([[0.6, 0, 0], [0.1, 0.2, 0.3]]), top=2)
    # decisions ≥ 0.5: (0,x) tp, (0,y) fp, (1,x) tp, (1,y) fn, (2,z) fn, (3,y) tp
    assert report["micro_precision"] == 0.75 and report["micro_recall"] == 0.6
    assert report["micro_f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35, abs=1e-4)
    assert report["macro_f1"] == pytest.approx((1.0 + 0.5 + 0.0) / 3, abs=1e-4)
    assert report["precision_at_1"] == 0.75  # row 2's best is x, not its z
    assert report["coverage"] == 0.5
    assert [row["category"] for row in report["best"]] == ["x", "y"]
    assert [row["category"] for row in report["worst"]] == ["z", "y"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.lists(st.sampled_from([f"en:c{i}" for i in range(20)]), max_size=6)),
        max_size=30,
    ),
    st.integers(min_value=0, max_value=19),
)
def test_packed_targets_hold_the_label_matrix(categories: list, labels_count: int) -> None:
    """Training reads its labels packed eight to a byte; unpacked they are the boolean matrix, bit for bit."""
    series = pl.Series(categories, dtype=pl.List(pl.String))
    labels = [f"en:c{i}" for i in range(0, 20, 2)][:labels_count]  # every other category, any count
    matrix = label_matrix(series, labels)
    packed = Targets.of(series, labels)
    assert packed.packed.shape == (len(categories), (len(labels) + 7) // 8)
    assert np.array_equal(packed.packed, Targets.from_matrix(matrix).packed)
    index = np.arange(len(categories))[::-1]
    assert np.array_equal(packed.rows(index), matrix[index])

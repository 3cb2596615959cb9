"""A model folder loaded into onnxruntime: its contract checked, its predictions Robotoff-shaped, bucketed
inference equal to the plain forward, and the prediction engine running it on food products."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pytest
from onnx import TensorProto, helper

from pipelines.category_model.classifier import (
    LATEST_FILE,
    PREDICTOR,
    CategoryClassifier,
    CategoryModelError,
    latest_model,
    save_model,
)
from pipelines.category_model.features import FEATURES, MAX_TOKENS, Inputs, build_inputs, token_id
from pipelines.category_model.model import CategoryModel, to_onnx
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.schema import PREDICTION_SCHEMA

LABELS = ["en:spreads", "en:meats-and-their-products", "en:beverages"]
VOCAB = 1 << 18


def _hand_model() -> CategoryModel:
    """Token "n:nutella" → spreads and meats (both high), "n:cola" → beverages; nothing else scores."""
    embeddings = np.zeros((VOCAB, 2), dtype=np.float32)
    embeddings[token_id("n:nutella")] = [1.0, 0.0]
    embeddings[token_id("n:cola")] = [0.0, 1.0]
    weights = np.zeros((2 + FEATURES, 3), dtype=np.float32)
    weights[0, 0], weights[0, 1], weights[1, 2] = 12.0, 14.0, 14.0  # a mean: cola in 2 tokens → 7
    return CategoryModel(embeddings, weights, np.full(3, -5.0, dtype=np.float32))


def _bring_your_own(folder: Path, model: onnx.ModelProto, labels: list[str]) -> Path:
    folder.mkdir(parents=True)
    onnx.save_model(model, folder / "model.onnx")
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


def _products(rows: list[tuple[str | None, str, str]]) -> pa.Table:
    """(code, product_type, name) rows with the snapshot's columns the classifier reads."""
    fields = ["normalized_code", "product_type", "product_name", "ingredients_original_tags", "nutriments"]
    schema = pa.schema([PRODUCT_SCHEMA.field(name) for name in fields])
    return pa.Table.from_pylist(
        [
            {"normalized_code": code, "product_type": kind, "product_name": [{"lang": "main", "text": name}]}
            for code, kind, name in rows
        ],
        schema=schema,
    )


def test_a_bring_your_own_model_predicts_like_robotoffs_classifier(tmp_path: Path) -> None:
    folder = _bring_your_own(tmp_path / "my-model-2", to_onnx(_hand_model()), LABELS)
    classifier = CategoryClassifier.load(folder)
    assert classifier.version == "my-model-2" and classifier.threshold == 0.5
    products = _products(
        [("3017620422003", "food", "Nutella"), ("5449000000996", "food", "Cola zero"), (None, "food", "Cola"),
         ("3274080005003", "food", "Water")]
    )  # fmt: skip
    table = classifier.predictions(products, server_type="off")
    assert table.schema == PREDICTION_SCHEMA
    rows = [
        (r["barcode"], r["value_tag"], r["predictor"], r["automatic_processing"]) for r in table.to_pylist()
    ]
    # en:meats-and-their-products scores highest for Nutella but Robotoff skips it; no barcode: nothing
    assert rows == [
        ("3017620422003", "en:spreads", PREDICTOR, False),
        ("5449000000996", "en:beverages", PREDICTOR, False),
    ]
    confidence = table.column("confidence").to_pylist()
    assert confidence[0] == pytest.approx(1 / (1 + np.exp(-7.0)), rel=1e-5)
    assert set(table.column("predictor_version").to_pylist()) == {"my-model-2"}
    assert table.column("source_image").null_count == table.num_rows


def test_predictions_are_best_first_and_at_the_threshold(tmp_path: Path) -> None:
    classifier = CategoryClassifier.load(_bring_your_own(tmp_path / "m", to_onnx(_hand_model()), LABELS))
    scores = np.array([[0.5, 0.0, 0.9], [0.49, 0.2, 0.1]], dtype=np.float32)
    table = classifier.predictions_from_scores(pa.array(["1", "2"]), scores, server_type="off")
    assert [(r["barcode"], r["value_tag"]) for r in table.to_pylist()] == [
        ("1", "en:beverages"),
        ("1", "en:spreads"),
    ]


def test_bucketed_inference_equals_the_plain_forward(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    model = CategoryModel(
        rng.standard_normal((VOCAB, 4)).astype(np.float32),
        rng.standard_normal((4 + FEATURES, 3)).astype(np.float32),
        rng.standard_normal(3).astype(np.float32),
    )
    classifier = CategoryClassifier.load(_bring_your_own(tmp_path / "m", to_onnx(model), LABELS))
    tokens = np.zeros((300, MAX_TOKENS), dtype=np.int64)
    for row in range(300):  # every length from 0 to 64
        length = row % (MAX_TOKENS + 1)
        tokens[row, :length] = rng.integers(1, VOCAB, size=length)
    inputs = Inputs(tokens, rng.random((300, FEATURES)).astype(np.float32))
    np.testing.assert_allclose(
        classifier.scores(inputs), model.forward(inputs.tokens, inputs.features), rtol=1e-5, atol=1e-6
    )


def _renamed_input_model() -> onnx.ModelProto:
    proto = to_onnx(_hand_model())
    graph = proto.graph
    graph.input[0].name = "input_ids"
    for node in graph.node:
        node.input[:] = ["input_ids" if name == "tokens" else name for name in node.input]
    return proto


def test_a_model_with_another_signature_is_refused_naming_the_problem(tmp_path: Path) -> None:
    with pytest.raises(CategoryModelError, match=r"inputs \['features', 'input_ids'\]"):
        CategoryClassifier.load(_bring_your_own(tmp_path / "renamed", _renamed_input_model(), LABELS))
    with pytest.raises(CategoryModelError, match="the labels file 2 categories"):
        CategoryClassifier.load(_bring_your_own(tmp_path / "labels", to_onnx(_hand_model()), LABELS[:2]))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not a model")
    (broken / "labels.json").write_text("[]")
    with pytest.raises(CategoryModelError, match="cannot load"):
        CategoryClassifier.load(broken)
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    identity.ir_version = 10
    with pytest.raises(CategoryModelError, match="not a category model"):
        CategoryClassifier.load(_bring_your_own(tmp_path / "identity", identity, LABELS))


def test_saved_versions_and_latest(tmp_path: Path) -> None:
    root = tmp_path / "models" / "category"
    assert latest_model(root) is None
    card = {"version": "v1", "threshold": 0.7, "vocab_size": VOCAB, "flavor": "off"}
    first = save_model(root, "v1", to_onnx(_hand_model()), LABELS, card)
    assert latest_model(root) == first and (root / LATEST_FILE).read_text().strip() == "v1"
    loaded = CategoryClassifier.load(first)
    assert (loaded.version, loaded.threshold, loaded.labels) == ("v1", 0.7, LABELS)
    second = save_model(root, "v2", to_onnx(_hand_model()), LABELS, card | {"version": "v2"})
    assert latest_model(root) == second and first.is_dir()  # earlier versions stay for a rollback
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_the_prediction_engine_runs_the_model_on_food_products(tmp_path: Path, keywords_dir: Path) -> None:
    folder = _bring_your_own(tmp_path / "m", to_onnx(_hand_model()), LABELS)
    resources = Resources(keywords_dir, category_model=folder)
    products = _products([("3017620422003", "food", "Nutella"), ("3600000000001", "beauty", "Cola lipstick")])
    out = predict(products, resources=resources)
    category = [r for r in out.to_pylist() if r["predictor"] == PREDICTOR]
    assert [(r["barcode"], r["value_tag"]) for r in category] == [("3017620422003", "en:spreads")]
    assert not [r for r in predict(products, types=["label"], resources=resources).to_pylist()
                if r["predictor"] == PREDICTOR]  # fmt: skip
    assert not [r for r in predict(products, resources=Resources(keywords_dir)).to_pylist()
                if r["predictor"] == PREDICTOR]  # fmt: skip
    one = predict(products.slice(0, 1), resources=resources)
    assert [r for r in one.to_pylist() if r["predictor"] == PREDICTOR] == category  # one row = same rows


def test_inputs_of_the_engine_rows_match_the_features_module() -> None:
    products = _products([("3017620422003", "food", "Nutella")])
    assert build_inputs(products).tokens[0, 0] == token_id("n:nutella")

"""The category model's predictions go through Robotoff's category importer like the neural classifier's:
a new category becomes an insight; one the product has, or an ancestor of one, does not."""

from __future__ import annotations

from pathlib import Path

from pipelines.category_model.classifier import PREDICTOR, CategoryClassifier
from pipelines.category_model.model import to_onnx
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from tests.pipelines.category_model.test_classifier import LABELS, _bring_your_own, _hand_model
from tests.pipelines.insights.conftest import Store, product, products_table


def _predict_and_import(store: Store, folder: Path, *rows: dict) -> None:
    table = products_table(*rows)
    names = [{"lang": "main", "text": "Nutella"}]
    table = table.append_column("product_name", [[names] * table.num_rows])
    resources = Resources(store.resources.keywords_dir, store.resources.taxonomy_dir, category_model=folder)
    predictions = predict(table, types=["category"], resources=resources)
    store.import_table(predictions)


def test_a_new_category_becomes_an_insight_and_an_ancestor_of_the_products_does_not(
    store: Store, tmp_path: Path
) -> None:
    folder = _bring_your_own(tmp_path / "model-7", to_onnx(_hand_model()), LABELS)
    assert CategoryClassifier.load(folder).labels == LABELS
    taxonomy = store.resources.taxonomy("categories")
    child = next(node.id for node in taxonomy["en:spreads"].children)  # a category under en:spreads
    bare = product("3017620422003", categories_tags=[])
    covered = product("3017620422010", categories_tags=[child])  # en:spreads is its ancestor
    _predict_and_import(store, folder, bare, covered)
    store.refresh(bare, covered)
    insights = store.insights("category")
    assert [(i["barcode"], i["value_tag"], i["predictor"], i["predictor_version"]) for i in insights] == [
        ("3017620422003", "en:spreads", PREDICTOR, "model-7")
    ]
    assert insights[0]["campaign"] == ["missing-category"] and insights[0]["automatic_processing"] is False

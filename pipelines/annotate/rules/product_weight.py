"""Product weight: set ``quantity`` when the product has none (``ProductWeightAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import ALREADY_ANNOTATED, PRODUCT_UPDATE, Decision, Insight, Product, Write

TYPE = "product_weight"
FIELDS = ("quantity",)


def decide(insight: Insight, product: Product) -> Decision:
    if product.get("quantity"):
        return ALREADY_ANNOTATED
    quantity = insight.value or ""
    return Write(PRODUCT_UPDATE, {"quantity": quantity}, f"Updating quantity to '{quantity}'")

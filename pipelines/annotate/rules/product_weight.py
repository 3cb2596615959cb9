"""Product weight: set ``quantity`` when the product has none (``ProductWeightAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_set

TYPE = "product_weight"
FIELDS = ("quantity",)


def decide(insight: Insight, product: Product) -> Decision:
    quantity = insight.value or ""
    write = Write(PRODUCT_UPDATE, {"quantity": quantity}, f"Updating quantity to '{quantity}'")
    return unless_set(product, "quantity", write)

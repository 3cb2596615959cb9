"""Expiration date: set ``expiration_date`` when the product has none (``ExpirationDateAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import ALREADY_ANNOTATED, PRODUCT_UPDATE, Decision, Insight, Product, Write

TYPE = "expiration_date"
FIELDS = ("expiration_date",)


def decide(insight: Insight, product: Product) -> Decision:
    if product.get("expiration_date"):
        return ALREADY_ANNOTATED
    date = insight.value or ""
    return Write(PRODUCT_UPDATE, {"expiration_date": date}, f"Adding expiration date '{date}'")

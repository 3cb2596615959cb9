"""Expiration date: set ``expiration_date`` when the product has none (``ExpirationDateAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_set

TYPE = "expiration_date"
FIELDS = ("expiration_date",)


def decide(insight: Insight, product: Product) -> Decision:
    date = insight.value or ""
    write = Write(PRODUCT_UPDATE, {"expiration_date": date}, f"Adding expiration date '{date}'")
    return unless_set(product, "expiration_date", write)

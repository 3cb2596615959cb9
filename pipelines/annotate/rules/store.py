"""Store: add the store's name (``add_stores``) unless its tag is in ``stores_tags`` (``StoreAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_tagged

TYPE = "store"
FIELDS = ("stores_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    store = insight.value or ""
    write = Write(PRODUCT_UPDATE, {"add_stores": store}, f"Adding store '{store}'")
    return unless_tagged(product, "stores_tags", insight.value_tag, write)

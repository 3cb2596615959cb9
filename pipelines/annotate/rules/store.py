"""Store: add the store's name (``add_stores``) unless its tag is in ``stores_tags`` (``StoreAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import (
    ALREADY_ANNOTATED,
    PRODUCT_UPDATE,
    Decision,
    Insight,
    Product,
    Write,
    tags,
)

TYPE = "store"
FIELDS = ("stores_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    if insight.value_tag in tags(product, "stores_tags"):
        return ALREADY_ANNOTATED
    store = insight.value or ""
    return Write(PRODUCT_UPDATE, {"add_stores": store}, f"Adding store '{store}'")

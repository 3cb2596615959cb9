"""Category: add the category tag (``add_categories``) unless the product has it (``CategoryAnnotator``)."""

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

TYPE = "category"
FIELDS = ("categories_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    tag = insight.value_tag or ""
    if tag in tags(product, "categories_tags"):
        return ALREADY_ANNOTATED
    return Write(PRODUCT_UPDATE, {"add_categories": tag}, f"Adding category '{tag}'")

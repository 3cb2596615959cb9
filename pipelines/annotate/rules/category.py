"""Category: add the category tag (``add_categories``) unless the product has it (``CategoryAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_tagged

TYPE = "category"
FIELDS = ("categories_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    tag = insight.value_tag or ""
    write = Write(PRODUCT_UPDATE, {"add_categories": tag}, f"Adding category '{tag}'")
    return unless_tagged(product, "categories_tags", tag, write)

"""Label: add the label tag (``add_labels``) unless the product has it (``LabelAnnotator``)."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_tagged

TYPE = "label"
FIELDS = ("labels_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    tag = insight.value_tag or ""
    write = Write(PRODUCT_UPDATE, {"add_labels": tag}, f"Adding label tag '{tag}'")
    return unless_tagged(product, "labels_tags", tag, write)

"""Label: add the label tag (``add_labels``) unless the product has it (``LabelAnnotator``)."""

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

TYPE = "label"
FIELDS = ("labels_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    tag = insight.value_tag or ""
    if tag in tags(product, "labels_tags"):
        return ALREADY_ANNOTATED
    return Write(PRODUCT_UPDATE, {"add_labels": tag}, f"Adding label tag '{tag}'")

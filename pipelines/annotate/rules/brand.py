"""Brand: add the brand as written (``add_brands``); Robotoff checks nothing but the product's existence
(``BrandAnnotator``), Product Opener ignores a brand it already has."""

from __future__ import annotations

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write

TYPE = "brand"
FIELDS = ("brands_tags",)


def decide(insight: Insight, product: Product) -> Decision:
    brand = insight.value or ""
    return Write(PRODUCT_UPDATE, {"add_brands": brand}, f"Adding brand '{brand}'")

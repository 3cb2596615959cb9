"""Packager code: append the code to the product's ``emb_codes`` and send the whole list, unless a code of
it is the same once normalized (``PackagerCodeAnnotator``, ``normalize_emb_code``)."""

from __future__ import annotations

from pipelines.annotate.base import ALREADY_ANNOTATED, PRODUCT_UPDATE, Decision, Insight, Product, Write
from pipelines.insights.refresh import normalize_emb_code

TYPE = "packager_code"
FIELDS = ("emb_codes",)


def decide(insight: Insight, product: Product) -> Decision:
    code = insight.value or ""
    existing = str(product.get("emb_codes") or "")
    codes = existing.split(",") if existing else []
    if normalize_emb_code(code) in {normalize_emb_code(c) for c in codes}:
        return ALREADY_ANNOTATED
    joined = ",".join([*codes, code])
    return Write(PRODUCT_UPDATE, {"emb_codes": joined}, f"Adding packager codes '{joined}'")

"""The insight types written back to Product Opener and their rules (:mod:`pipelines.annotate.rules`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from pipelines.annotate.base import MISSING_PRODUCT, Decision, Insight, Product
from pipelines.annotate.errors import UnsupportedInsightError
from pipelines.annotate.rules import (
    brand,
    category,
    expiration_date,
    label,
    packager_code,
    product_weight,
    store,
)

RULES: dict[str, ModuleType] = {
    module.TYPE: module
    for module in (brand, category, expiration_date, label, packager_code, product_weight, store)
}


def fields(insight_type: str) -> tuple[str, ...]:
    """The product fields ``insight_type``'s check reads."""
    return _rule(insight_type).FIELDS


def decide(insight: Insight, product: Product | None) -> Decision:
    """What annotating ``insight`` sends to Product Opener, given the product's current state (``None``: the
    product does not exist, Robotoff's ``error_missing_product``)."""
    rule = _rule(insight.type)
    if product is None:
        return MISSING_PRODUCT
    decide_type: Callable[[Insight, Product], Decision] = rule.decide
    return decide_type(insight, product)


def with_user_value(insight: Insight, data: Mapping[str, Any]) -> Insight:
    """``insight`` as an operator's annotation ``2`` with ``data`` accepts it: with the operator's value for
    the types that take one (category), unchanged for the others — Robotoff ignores their data too."""
    rule = _rule(insight.type)
    apply: Callable[[Insight, Mapping[str, Any]], Insight] | None = getattr(rule, "with_user_value", None)
    return insight if apply is None else apply(insight, data)


def _rule(insight_type: str) -> ModuleType:
    try:
        return RULES[insight_type]
    except KeyError:
        known = ", ".join(sorted(RULES))
        raise UnsupportedInsightError(
            f"insights of type {insight_type!r} are not written to Product Opener (written: {known})"
        ) from None

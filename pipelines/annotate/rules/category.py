"""Category: add the category tag (``add_categories``) unless the product has it (``CategoryAnnotator``).

An operator may accept it with a category of their own (annotation ``2``, data ``{"value_tag": …}``,
Robotoff's ``CategoryAnnotateBody``): that tag is checked and written instead, and the insight keeps it as
its value tag (the predicted one moves to ``data.original_value_tag``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pipelines.annotate.base import PRODUCT_UPDATE, Decision, Insight, Product, Write, unless_tagged
from pipelines.annotate.errors import InvalidDataError

TYPE = "category"
FIELDS = ("categories_tags",)
MAX_TAG = 200  # characters; a category tag from an operator longer than this is a mistake


def decide(insight: Insight, product: Product) -> Decision:
    tag = insight.value_tag or ""
    write = Write(PRODUCT_UPDATE, {"add_categories": tag}, f"Adding category '{tag}'")
    return unless_tagged(product, "categories_tags", tag, write)


def with_user_value(insight: Insight, data: Mapping[str, Any]) -> Insight:
    """The insight carrying the operator's category; ``data`` must be exactly ``{"value_tag": <tag>}``."""
    tag = data.get("value_tag")
    if set(data) != {"value_tag"} or not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG:
        raise InvalidDataError('category data must be exactly {"value_tag": "<category tag>"}')
    return replace(insight, value_tag=tag.strip(), value=None, user_value=True)

"""What an annotation decides: the insight it reads, the call to send (:class:`Write`) or the end without one
(:class:`Done`); shared by the per-type rules of :mod:`pipelines.annotate.rules`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.annotate.results import AnnotationStatus

PRODUCT_UPDATE = "/cgi/product_jqm2.pl"  # Product Opener's form endpoint for product fields


@dataclass(frozen=True)
class Insight:
    """The columns of a ``product_insight`` row an annotation reads."""

    id: str
    barcode: str
    type: str
    server_type: str = "off"
    value: str | None = None
    value_tag: str | None = None
    source_image: str | None = None
    automatic_processing: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)
    # the value tag is the operator's (annotation 2), not the predicted one
    user_value: bool = False
    attempts: int = 0  # failed calls so far (``annotate_attempt``)


@dataclass(frozen=True)
class Write:
    """A call to Product Opener: the endpoint ``path``, the type's form ``fields`` (``code``, the comment and
    the credentials are added when it is sent), and ``action``, the comment's description."""

    path: str
    fields: Mapping[str, str]
    action: str


@dataclass(frozen=True)
class Done:
    """Nothing to send: the annotation ends with ``status``."""

    status: AnnotationStatus
    detail: str


Decision = Write | Done
Product = Mapping[str, Any]

ALREADY_ANNOTATED = Done(AnnotationStatus.error_already_annotated, "the product already has this value")
MISSING_PRODUCT = Done(AnnotationStatus.error_missing_product, "the product could not be found")


def tags(product: Product, name: str) -> list[str]:
    """A tag list of the product (``None`` and absent are empty)."""
    return list(product.get(name) or ())


def unless_tagged(product: Product, field: str, tag: str | None, write: Write) -> Decision:
    """``write``, unless the product's tag list ``field`` holds ``tag`` already."""
    return ALREADY_ANNOTATED if tag in tags(product, field) else write


def unless_set(product: Product, field: str, write: Write) -> Decision:
    """``write``, unless the product's ``field`` has a value already (an empty one counts as none)."""
    return ALREADY_ANNOTATED if product.get(field) else write

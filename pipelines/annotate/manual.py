"""An operator's annotation of one insight (``offpipe insights annotate``), as Robotoff's API records one.

Robotoff (release 1.85.10, ``robotoff/insights/annotate.py``, ``InsightAnnotator.annotate``): ``1`` accepts
the insight and sends its call to Product Opener (the same decision and write as the automatic run,
:mod:`pipelines.annotate.job`), ``2`` accepts it with the operator's ``data`` (a category of their own:
``user_input_updated``; the other types ignore the data), ``0`` refuses it and ``-1`` skips it — both only
recorded (result ``saved``). Data without ``2``, ``2`` without data, or data that does not fit the type end
with ``error_invalid_data`` and record nothing.
An insight annotated already is left as it is (``error_already_annotated``), an unknown id is
``error_unknown_insight``. A call that fails records nothing (the operator tries again); the edit is made as
``OFF_USER``, whose name is recorded as the annotation's user, and is not marked automated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pipelines.annotate.base import Done, Insight, Write
from pipelines.annotate.config import Credentials
from pipelines.annotate.errors import AnnotateError, InvalidDataError
from pipelines.annotate.job import TABLES, decide_all, record, refresh_products
from pipelines.annotate.job import outcome_row as _outcome_row
from pipelines.annotate.registry import fields, with_user_value
from pipelines.annotate.results import AnnotationStatus, Outcome
from pipelines.annotate.writer import ProductOpenerWriter
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.sql import arrow_table, load_statement
from pipelines.listener.sources import ProductSource, product_source
from pipelines.predictors.resources import Resources
from pipelines.store.session import StoreRef, scope_barcodes, store_reader

logger = logging.getLogger(__name__)

# accept, refuse, skip, accept with the operator's data
VALUES = (1, 0, -1, 2)
ACCEPTED = (1, 2)

Send = Callable[[Insight, Write], Outcome]


class InsightNotFoundError(AnnotateError, LookupError):
    """No insight has that id in the store."""


def insight_id(raw: str) -> str:
    """The canonical form of an insight id given from outside (a UUID), or one clear error."""
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise AnnotateError(f"invalid insight id {raw[:60]!r}: a UUID expected") from None


def annotate_insight(
    raw_id: str,
    value: int,
    *,
    data: Mapping[str, Any] | None = None,
    store: StoreRef = None,
    settings: Settings | None = None,
    source: ProductSource | None = None,
    send: Send | None = None,
    resources: Resources | None = None,
) -> Outcome:
    """Annotate one insight with ``value`` (1, 0, -1, or 2 with ``data``); the outcome, recorded unless the
    call failed or the data was invalid. The product's insights are refreshed after a recorded annotation, as
    Robotoff does."""
    if value not in VALUES:
        raise AnnotateError(
            f"annotation {value} not supported: 1 (accept), 0 (refuse), -1 (skip) or 2 (accept with data)"
        )
    if (value == 2) != (data is not None):
        detail = "data must be provided if annotation is 2" if value == 2 else "data needs annotation 2"
        return Outcome(AnnotationStatus.error_invalid_data, detail)
    settings = settings or get_settings()
    found = _read(insight_id(raw_id), store, settings)
    if found is None:
        raise InsightNotFoundError(f"no insight {raw_id.strip()} in the store")
    insight, annotated = found
    if annotated is not None:
        return Outcome(AnnotationStatus.error_already_annotated, f"annotated already ({annotated})")
    if data is not None:
        try:
            insight = with_user_value(insight, data)
        except InvalidDataError as exc:
            return Outcome(AnnotationStatus.error_invalid_data, str(exc))
    source = source or product_source(settings)
    outcome = Outcome(AnnotationStatus.saved, "the annotation was saved")
    if value in ACCEPTED:
        outcome = _accept(insight, settings, source, send)
        if outcome.status is AnnotationStatus.error_failed_update:
            return outcome  # nothing recorded: the operator sees why and tries again
        if insight.user_value and outcome.status is AnnotationStatus.updated:
            outcome = replace(outcome, status=AnnotationStatus.user_input_updated)
    row = _outcome_row(insight, outcome, annotation=value, username=settings.write_user)
    flavor = Flavor(insight.server_type)
    if not record(flavor, [row], store=store, settings=settings):
        return Outcome(AnnotationStatus.error_already_annotated, "annotated by someone else meanwhile")
    refresh_products(
        flavor, [insight.barcode], store=store, settings=settings, source=source, resources=resources
    )
    return outcome


def _read(insight: str, store: StoreRef, settings: Settings) -> tuple[Insight, int | None] | None:
    params = {"id": insight}
    codes = scope_barcodes("postgres/insight_barcodes", params, store, settings)
    if codes is not None and not codes:
        return None
    with store_reader(store, barcodes=codes, tables=TABLES, settings=settings) as con:
        rows = arrow_table(con, load_statement("annotate/insight_by_id"), params).to_pylist()
    if not rows:
        return None
    annotation = rows[0].pop("annotation")
    return Insight(**rows[0]), annotation


def _accept(insight: Insight, settings: Settings, source: ProductSource, send: Send | None) -> Outcome:
    """The automatic run's decision for this one insight (``decide_all``), sent as the operator's edit."""
    flavor = Flavor(insight.server_type)
    [decided], _ = decide_all(flavor, [insight], source)
    decision = decided.decision
    if decision is None:  # a type not written back: the registry's one-line error
        fields(insight.type)
    if isinstance(decision, Done):
        return Outcome(decision.status, decision.detail)
    assert isinstance(decision, Write)
    if send is None:
        writer = ProductOpenerWriter(settings, flavor, Credentials.from_env())
        return writer.send(insight, decision, automatic=False)
    return send(insight, decision)

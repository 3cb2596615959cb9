"""Why a unit of work was not applied, and which errors are outages rather than bad products.

The loop acknowledges the units a batch applied and leaves the others pending; what it does with a pending
entry depends on the cause (docs/listener.md, "Failures"). A *unit failure* is the product's own problem
(it is not in the product source, its flavor has no source, its OCR cannot be read, its work raised): the
entry is retried through the reclaim and, at the last delivery, dead-lettered with the reason. An *outage*
(the store or the disk, Redis, every product source, the Prefect API) is nobody's product: the batch stays
pending, however many times it is delivered, until the outage ends.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

# Dead-letter reasons of entries whose work failed (the parsing reasons are in events.py).
PRODUCT_NOT_FOUND = "product_not_found"  # an updated product its flavor's product source does not have
SOURCE_UNAVAILABLE = "source_unavailable"  # no product source answered for the product's flavor
OCR_FETCH_FAILED = "ocr_fetch_failed"  # the image server failed or served an unusable OCR JSON
APPLY_FAILED = "apply_failed"  # the work itself raised (predictors, importers, refresh…)


class OutageError(OffpipeError, RuntimeError):
    """The batch could not be applied for a cause outside its products: it waits, never dead-lettered."""


@dataclass(frozen=True)
class UnitFailure:
    """A unit of work that was not applied: its product, the reason (dead-letter ``reason``), the error, and
    whether it must wait rather than count against the product (``outage``): the cause is an outage of
    what the product needed (a product source, the image server), or the failure could not be pinned on
    the product alone. Such an entry is never dead-lettered."""

    code: str
    reason: str
    detail: str
    outage: bool = False

    def to_dict(self) -> dict[str, str | bool]:
        return {"code": self.code, "reason": self.reason, "detail": self.detail, "outage": self.outage}


@runtime_checkable
class ReportsFailures(Protocol):
    """What a dispatcher may return: the units of the batch it did not apply (the others it committed)."""

    failed: Sequence[UnitFailure]


def describe(exc: BaseException) -> str:
    """One line naming the error, for logs and dead-letter details."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the environment failed (retry the whole batch later) rather than a product.

    Outages: :class:`OutageError` (its subclasses: a product source that cannot be reached, the Prefect API
    refusing the run), any ``OSError`` (disk full, read-only or missing folder, a store locked past its
    timeout — ``StoreLockedError`` is a ``TimeoutError`` —, network errors), DuckDB's storage errors
    (:func:`pipelines.store.db.is_storage_error`), PostgreSQL's operational errors (``psycopg``'s
    ``OperationalError``: a connection cut by a server restart, an administrator or an idle-session
    killer; a full disk, a deadlock, a cancelled statement — the server's state, never a product's) and
    Redis connection errors. Everything else is taken for the product's problem and isolated.
    """
    import psycopg
    import redis

    from pipelines.store.db import is_storage_error

    outages = (OutageError, OSError, psycopg.OperationalError, redis.ConnectionError, redis.TimeoutError)
    return isinstance(exc, outages) or is_storage_error(exc)


def split_budget(items: int) -> int:
    """How many attempts :func:`isolate` may spend on ``items``: enough to find a few poison items by halving
    (each costs about 2·log2(n)), far fewer than the 2n − 1 a batch where everything fails would take
    (a broken resource fails every product: 2,000 products would be ~4,000 applications)."""
    return 8 * math.ceil(math.log2(items + 1)) + 8


def isolate(
    items: Sequence[T], attempt: Callable[[Sequence[T]], R], *, what: str = "items"
) -> tuple[list[R], list[tuple[Sequence[T], Exception]]]:
    """Attempt ``items`` together; when that raises, attempt each half on its own, down to the single items
    that fail: the results of the attempts that succeeded, and the groups that failed with their error.

    An outage (:func:`is_outage`) is nobody's item: it propagates at once. Once the attempts of
    :func:`split_budget` are spent, the groups left are returned failed, whole, with their parent's error.
    Only a group of one is the item's own failure; callers let the items of a larger group wait for their
    next delivery (they may be good ones that were never tried alone), never dead-letter them.
    """
    results: list[R] = []
    failed: list[tuple[Sequence[T], Exception]] = []
    budget = split_budget(len(items))

    def run(group: Sequence[T], parent_error: Exception | None) -> None:
        nonlocal budget
        if budget <= 0 and parent_error is not None:  # spent: the group fails as its parent did, untried
            failed.append((group, parent_error))
            return
        budget -= 1
        try:
            results.append(attempt(group))
            return
        except Exception as exc:
            if is_outage(exc):
                raise
            if len(group) == 1 or budget < 2:
                failed.append((group, exc))
                return
            error = exc
        logger.warning(
            "%d %s failed together (%s): trying each half alone", len(group), what, describe(error)
        )
        half = len(group) // 2
        run(group[:half], error)
        run(group[half:], error)

    run(items, None)
    return results, failed

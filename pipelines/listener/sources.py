"""Where the per-product path reads a product: MongoDB, Product Opener's API, or the latest Parquet snapshot.

Sources are tried in the configured order (``OFF_PRODUCT_SOURCES``; default ``mongo,snapshot`` when
``MONGO_URI`` is set, ``snapshot`` otherwise — the embedded, offline default). The first source that
*answers* gives the rows; a product it does not have is *not found* — never taken for deleted: a snapshot
is older than the events, the API answers 404 for a code it keys differently, a document may not be written
yet. Only a ``deleted`` event (or a product-type change) deletes a product's work (docs/listener.md,
"Failures"). A source that cannot answer for the flavor raises :class:`SourceUnavailableError` and the next
one is asked: :class:`SourceDownError` (an outage: server unreachable, timeouts or 5xx after retries) or a
plain :class:`SourceUnavailableError` (no snapshot of the flavor yet). Documents from MongoDB and the API go
through the conversion's own SQL (:func:`pipelines.convert.from_documents.documents_to_rows`), so every source
yields the snapshot's columns.
"""

from __future__ import annotations

import itertools
import logging
import string
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import requests

from pipelines import barcodes
from pipelines.common.config import Flavor, Settings
from pipelines.common.errors import OffpipeError
from pipelines.common.http import FetchError, FetchNotFoundError, RetryPolicy, get_bytes
from pipelines.common.sql import arrow_table, load_statement, scratch
from pipelines.convert.from_documents import documents_to_rows
from pipelines.convert.schema import LANGUAGE_FAMILIES, PRODUCT_SCHEMA
from pipelines.convert.snapshot import products_path
from pipelines.listener.failures import OutageError
from pipelines.listener.lookup import LookupStaleError, SnapshotLookup

logger = logging.getLogger(__name__)

SOURCE_NAMES = ("mongo", "api", "snapshot")
MAX_PRODUCT_BYTES = 16 * 1024 * 1024  # the conversion's own line limit
# Top-level fields the per-product steps read (predictors, importers, refresh, category features), plus every
# `<family>_<two letters>` variant the conversion gathers into per-language lists. MongoDB projections take
# no wildcards, hence the explicit 4 x 676 language keys.
PRODUCT_FIELDS = (
    "code",
    "product_type",
    "lang",
    "lc",
    "product_name",
    "generic_name",
    "ingredients_text",
    "packaging_text",
    "images",
    "labels_tags",
    "categories_tags",
    "brands",
    "brands_tags",
    "emb_codes",
    "emb_codes_tags",
    "quantity",
    "expiration_date",
    "countries_tags",
    "unique_scans_n",
    "ingredients_tags",
    "ingredients_original_tags",
    "nutriments",
    "nutrition",
    "schema_version",
    "created_t",
    "last_modified_t",
    "rev",
)
LANGUAGE_FIELDS = tuple(
    f"{family}_{a}{b}"
    for family in LANGUAGE_FAMILIES
    for a, b in itertools.product(string.ascii_lowercase, repeat=2)
)


class SourceUnavailableError(OffpipeError, RuntimeError):
    """The source cannot answer for this flavor (no snapshot of it yet); the next configured source is asked.
    Not an outage: the flavor's products fail ``source_unavailable`` and are dead-lettered in the end."""


class SourceDownError(SourceUnavailableError, OutageError):
    """The source cannot be reached now (server down, timeouts or 5xx after retries): an outage, the
    products wait for it."""


class ProductSource(Protocol):
    name: str

    def rows(self, flavor: Flavor, codes: Sequence[str], raw_codes: Mapping[str, str]) -> pa.Table:
        """Rows (snapshot columns) of the ``codes`` it has; :class:`SourceUnavailableError` if it cannot
        answer. ``raw_codes`` maps a normalized code to the code as the event wrote it."""
        ...


def _only(rows: pa.Table, codes: Sequence[str]) -> pa.Table:
    """The rows of ``codes`` (a raw-code lookup may also find other products' documents)."""
    return rows.filter(pc.is_in(rows.column("normalized_code"), pa.array(sorted(set(codes)), pa.string())))


def snapshot_rows(snapshot: Path, codes: Sequence[str]) -> pa.Table:
    """The snapshot's rows of ``codes`` (normalized, validated), every column, as the bulk run reads them."""
    con = scratch()
    con.read_parquet(str(snapshot)).create_view("snapshot_source", replace=True)
    return arrow_table(con, load_statement("listener/snapshot_rows"), {"codes": sorted(set(codes))})


@dataclass
class SnapshotSource:
    """The flavor's latest Parquet snapshot (the embedded default). With ``lookup``, products are read from
    the snapshot's sorted lookup copy (:mod:`pipelines.listener.lookup`), built in the background when
    missing or stale; until it is ready, from the snapshot itself."""

    settings: Settings
    lookup: bool = False
    name: str = "snapshot"
    _lookups: dict[Path, SnapshotLookup] = field(default_factory=dict)

    def rows(self, flavor: Flavor, codes: Sequence[str], raw_codes: Mapping[str, str]) -> pa.Table:
        snapshot = products_path(flavor, self.settings)
        if not snapshot.is_file():
            raise SourceUnavailableError(
                f"no {flavor.value} snapshot at {snapshot}: run the nightly job first"
            )
        if self.lookup:
            lookup = self._lookups.setdefault(snapshot, SnapshotLookup(snapshot))
            if lookup.ready():
                try:
                    return lookup.rows(codes)
                except LookupStaleError as exc:
                    logger.warning("%s: reading the snapshot instead", exc)
            lookup.build_in_background()
        return snapshot_rows(snapshot, codes)


@dataclass
class MongoSource:
    """Product Opener's MongoDB: one database per flavor (``MONGO_DB`` for off, the flavor's name for the
    others), collection ``MONGO_COLLECTION``, documents keyed by code (``_id``)."""

    client: Any  # pymongo.MongoClient (or a test double with the same find())
    settings: Settings
    name: str = "mongo"

    def collection(self, flavor: Flavor) -> Any:
        database = self.settings.mongo_db if flavor is Flavor.off else flavor.value
        return self.client[database][self.settings.mongo_collection]

    def rows(self, flavor: Flavor, codes: Sequence[str], raw_codes: Mapping[str, str]) -> pa.Table:
        from pymongo.errors import PyMongoError

        keys = sorted(set(codes) | {raw_codes.get(code, code) for code in codes})
        projection = dict.fromkeys((*PRODUCT_FIELDS, *LANGUAGE_FIELDS), 1)
        try:
            documents = list(self.collection(flavor).find({"_id": {"$in": keys}}, projection))
        except PyMongoError as exc:
            raise SourceDownError(f"MongoDB: {type(exc).__name__}: {exc}") from exc
        for document in documents:
            document.setdefault("code", document.get("_id"))
            document.pop("_id", None)
        rows, _ = documents_to_rows(documents)
        return _only(rows, codes)


@dataclass
class ApiSource:
    """Product Opener's read API (``/api/v2/product/<code>``, the whole product), one request per product
    (up to ``workers`` at once), with the fetch module's timeouts and retries; a 404 (or ``status: 0``)
    means the API does not have the product under that code: not found, which is not taken for a deletion."""

    settings: Settings
    session: requests.Session = field(default_factory=requests.Session)
    attempts: int = 3
    backoff_s: float = 0.5
    workers: int = 4  # requests in flight at most for one call of rows
    name: str = "api"

    def url(self, flavor: Flavor, code: str) -> str:
        return f"{self.settings.flavor_urls(flavor).world}/api/v2/product/{barcodes.validated_code(code)}"

    def rows(self, flavor: Flavor, codes: Sequence[str], raw_codes: Mapping[str, str]) -> pa.Table:
        wanted = sorted(set(codes))
        if len(wanted) > 1 and self.workers > 1:  # a few requests in flight: the API answers each on its own
            with ThreadPoolExecutor(max_workers=min(self.workers, len(wanted))) as pool:
                found = list(pool.map(lambda code: self._product(flavor, code), wanted))
        else:
            found = [self._product(flavor, code) for code in wanted]
        rows, _ = documents_to_rows([document for document in found if document is not None])
        return _only(rows, codes)

    def _product(self, flavor: Flavor, code: str) -> dict | None:
        url = self.url(flavor, code)
        try:
            body = get_bytes(
                self.session,
                url,
                what="product",
                max_bytes=MAX_PRODUCT_BYTES,
                retry=RetryPolicy(attempts=self.attempts, backoff_s=self.backoff_s),
            )
        except FetchNotFoundError:
            return None
        except FetchError as exc:
            raise SourceDownError(str(exc)) from exc
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # a proxy's error page, a maintenance page
            raise SourceDownError(f"the API answered something that is not JSON: {url}") from exc
        product = answer.get("product") if isinstance(answer, dict) else None
        if not isinstance(product, dict) or answer.get("status") in (0, "failure"):
            return None
        product.setdefault("code", answer.get("code") or code)
        return product


@dataclass
class ChainSource:
    """Ask each source in turn until one answers; when none does, :class:`SourceDownError` if one of them
    could not be reached (an outage), else :class:`SourceUnavailableError`."""

    sources: Sequence[ProductSource]
    used: dict[str, int] = field(default_factory=dict)  # answers per source name

    @property
    def name(self) -> str:
        return ",".join(source.name for source in self.sources)

    def rows(self, flavor: Flavor, codes: Sequence[str], raw_codes: Mapping[str, str]) -> pa.Table:
        if not codes:
            return PRODUCT_SCHEMA.empty_table()
        errors: list[SourceUnavailableError] = []
        for source in self.sources:
            try:
                rows = source.rows(flavor, codes, raw_codes)
            except SourceUnavailableError as exc:
                logger.warning("product source %s unavailable (%s): trying the next one", source.name, exc)
                errors.append(exc)
                continue
            self.used[source.name] = self.used.get(source.name, 0) + 1
            return rows
        message = "no product source answered: " + "; ".join(
            f"{source.name}: {exc}" for source, exc in zip(self.sources, errors, strict=True)
        )
        if any(isinstance(exc, SourceDownError) for exc in errors):
            raise SourceDownError(message)
        raise SourceUnavailableError(message)


def product_source(settings: Settings, *, mongo_client: Any = None, lookup: bool = False) -> ChainSource:
    """The configured chain of sources (``OFF_PRODUCT_SOURCES``); ``lookup``: the snapshot source reads
    from its lookup copy (the long-running listener)."""
    chain: list[ProductSource] = []
    for name in settings.product_sources:
        if name == "mongo":
            if mongo_client is None and not settings.mongo_uri:
                raise ValueError("OFF_PRODUCT_SOURCES names mongo but MONGO_URI is not set")
            if mongo_client is None:
                from pymongo import MongoClient

                mongo_client = MongoClient(
                    settings.mongo_uri,
                    serverSelectionTimeoutMS=5_000,
                    connectTimeoutMS=5_000,
                    socketTimeoutMS=30_000,
                )
            chain.append(MongoSource(mongo_client, settings))
        elif name == "api":
            chain.append(ApiSource(settings))
        elif name == "snapshot":
            chain.append(SnapshotSource(settings, lookup=lookup))
        else:
            raise ValueError(f"unknown product source {name!r} (one of {', '.join(SOURCE_NAMES)})")
    return ChainSource(chain)

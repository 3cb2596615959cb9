"""Running the predictors over a flavor's snapshot and importing the result into the prediction store.

The bulk run reads the Parquet snapshot (``$OFF_DATA_DIR/parquet/<flavor>/products.parquet``) and the OCR
text table, in batches so memory stays flat, calls :func:`pipelines.predictors.registry.predict` — the very
function the per-product flows call on one-row tables — and imports every prediction in one store
transaction (``pipelines.store``), with the validity filter fed from the same snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.sql import arrow_table, connect, load_sql, load_statement, scratch
from pipelines.convert.snapshot import SnapshotNotFoundError, products_path
from pipelines.predictors import ocr_ledger
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources, default_resources
from pipelines.store.schema import concat_predictions
from pipelines.store.target import StoreTarget

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

PRODUCT_COLUMNS = ("code", "normalized_code", "product_name", "product_type")
CATEGORY_MODEL_COLUMNS = ("ingredients_original_tags", "nutriments")  # read only when a category model is set
PRODUCT_BATCH_ROWS = 250_000
OCR_BATCH_ROWS = 5_000


class OcrShards(Protocol):
    """Predicts a bulk run's pending OCR images elsewhere (``pipelines.predictors.shards``: shards of
    the dataset on a Dask cluster) and returns their predictions; ``predict_bulk`` does the rest."""

    def __call__(
        self, ocr_table: Path, pending: pa.Table, fingerprint: str, report: PredictReport
    ) -> pa.Table: ...


@dataclass
class PredictReport:
    """Counts of one run: inputs read, predictions per type, and the store import's own report."""

    flavor: str
    products: int = 0
    images: int = 0
    images_already_predicted: int = 0
    # images predicted again with only the predictors whose reference files changed (the OCR ledger), and
    # those predictors' types
    images_partial: int = 0
    partial_types: list[str] = field(default_factory=list)
    predictions: int = 0
    per_type: dict[str, int] = field(default_factory=dict)
    seconds_predict: float = 0.0
    seconds_predict_images: float = 0.0
    store_import: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def iter_parquet(path: Path, columns: Sequence[str] | None, batch_rows: int) -> Iterator[pa.Table]:
    """Tables of at most ``batch_rows`` rows of a Parquet file, or of a folder of Parquet parts (the OCR
    dataset of ``offpipe ocr-sync``: files and folders named ``_…`` or ``.…`` — quarantine, key list, temp
    files — are not parts), only ``columns`` read."""
    if path.is_dir():
        yield from _dataset_tables(path, columns, batch_rows)
        return
    if not path.is_file():
        raise SnapshotNotFoundError(f"no Parquet table at {path}")
    parquet = pq.ParquetFile(path)
    names = [c for c in columns if c in parquet.schema_arrow.names] if columns else None
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):
        yield pa.Table.from_batches([batch])


def iter_folders(
    folders: Sequence[Path], columns: Sequence[str] | None, batch_rows: int
) -> Iterator[pa.Table]:
    """Tables of at most ``batch_rows`` rows over the parts of several dataset folders, in order (a shard's
    barcode prefixes: each may hold a few rows only, so the batches run across them)."""
    files = [
        str(part)
        for folder in folders
        if folder.is_dir()
        for part in sorted(folder.glob("*.parquet"))
        if not part.name.startswith(("_", "."))
    ]
    if files:
        yield from _dataset_tables(files, columns, batch_rows)


def _dataset_tables(
    source: Path | list[str], columns: Sequence[str] | None, batch_rows: int
) -> Iterator[pa.Table]:
    """A folder's parts (or a list of part files) as tables of ``batch_rows`` rows (the last one shorter):
    its files may be small (one per barcode prefix and sync batch), and a predictor's set-up costs the same
    for 10 rows as for 10,000."""
    dataset = ds.dataset(source, format="parquet")
    names = [c for c in columns if c in dataset.schema.names] if columns else None
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in dataset.to_batches(columns=names, batch_size=batch_rows):
        pending.append(batch)
        rows += batch.num_rows
        if rows >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, batch_rows)
            rest = table.slice(batch_rows)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending)


def predict_tables(
    products: Iterator[pa.Table] | None,
    ocr: Iterator[tuple[pa.Table, Sequence[str] | None]] | None,
    *,
    flavor: Flavor | str,
    types: Sequence[str] | None,
    resources: Resources,
    report: PredictReport,
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """``predict`` over batches of products, then of OCR'd images; all predictions in one table."""
    started = time.perf_counter()
    tables = []
    for batch in products or ():
        tables.append(predict(batch, types=types, flavor=flavor, resources=resources))
        report.products += batch.num_rows
        if progress:
            progress(batch.num_rows)
    images_started = time.perf_counter()
    for batch, batch_types in ocr or ():
        chosen = types if batch_types is None else batch_types
        tables.append(predict(ocr=batch, types=chosen, flavor=flavor, resources=resources))
        report.images += batch.num_rows
        if batch_types is not None:
            report.images_partial += batch.num_rows
        if progress:
            progress(batch.num_rows)
    report.seconds_predict_images = round(time.perf_counter() - images_started, 3)
    result = concat_predictions(tables)
    report.seconds_predict = round(time.perf_counter() - started, 3)
    count_predictions(result, report)
    return result


def count_predictions(predictions: pa.Table, report: PredictReport) -> None:
    """The report's prediction counts, in all and per type."""
    report.predictions = predictions.num_rows
    report.per_type = {}
    if predictions.num_rows:
        counts = pl.from_arrow(predictions.select(["type"]))["type"].value_counts()  # type: ignore[index]
        report.per_type = dict(sorted(zip(counts["type"].to_list(), counts["count"].to_list(), strict=True)))


def prediction_products(predictions: pa.Table, products: Path | pa.Table) -> pa.Table:
    """``barcode, image_ids`` of the products that received predictions, read from the product table (the
    snapshot's Parquet file, or a table of its columns for the per-product path)."""
    if isinstance(products, pa.Table):  # the per-product path: a few rows, this thread's kept connection
        con = scratch()
        con.register("prediction_barcodes", predictions.select(["barcode"]))
        con.register("prediction_source", products.select(["normalized_code", "images"]))  # binds faster
        try:
            return arrow_table(con, load_statement("predictors/prediction_products"))
        finally:
            con.unregister("prediction_barcodes")
            con.unregister("prediction_source")
    con = connect()
    try:
        con.register("prediction_barcodes", predictions.select(["barcode"]))
        con.read_parquet(str(products)).create_view("prediction_source")
        return con.sql(load_sql("predictors/prediction_products")).to_arrow_table()
    finally:
        con.close()


def run_predictions(
    flavor: Flavor | str = Flavor.off,
    *,
    ocr_table: Path | None = None,
    types: Sequence[str] | None = None,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    resources: Resources | None = None,
    import_into_store: bool = True,
    all_images: bool = False,
    progress: Callable[[int], None] | None = None,
    ocr_shards: OcrShards | None = None,
) -> PredictReport:
    """The bulk run: predict over the flavor's snapshot (and OCR table), import into the store.

    OCR images the store already holds predictions for (same OCR, same predictors: ``ocr_ledger``) are
    skipped unless ``all_images``; they are always all predicted when only some ``types`` are asked for or
    nothing is imported, since the ledger then could not be kept exact. ``ocr_shards``: where the pending
    OCR images are predicted (default: here, batch after batch).
    """
    from pipelines.store.session import store_session

    settings = settings or get_settings()
    prepared = predict_bulk(
        flavor,
        ocr_table=ocr_table,
        types=types,
        store=store,
        settings=settings,
        resources=resources,
        for_import=import_into_store,
        all_images=all_images,
        progress=progress,
        ocr_shards=ocr_shards,
    )
    if import_into_store:
        session = store_session(
            store,
            server_type=prepared.flavor.value,
            purpose=prepared.purpose,
            tables=prepared.tables,
            settings=settings,
        )
        with session as con:
            prepared.import_into(con)
    return prepared.report


@dataclass
class BulkImport:
    """A bulk run's predictions, ready to import into a store session (:meth:`import_into`).

    Predicting needs no store session (only the OCR ledger's pending images, read before); the import
    does. Keeping them apart lets the nightly job import and refresh in one session
    (``pipelines.insights.job.nightly_step``): a PostgreSQL store then reads ``prediction`` once.
    """

    flavor: Flavor
    report: PredictReport
    predictions: pa.Table
    products: pa.Table | None  # barcode, image_ids of the products that received predictions (to import)
    pending: pa.Table | None  # the OCR images predicted, recorded in the ledger by the import
    fingerprint: str

    @property
    def purpose(self) -> str:
        return f"predict {self.flavor.value}"

    @property
    def recording(self) -> bool:
        return self.pending is not None and self.pending.num_rows > 0

    @property
    def tables(self) -> tuple[str, ...]:
        """The store tables the import reads and writes: the OCR ledger only when images are recorded in it
        (a PostgreSQL store reads the tables asked for: a nightly rerun that predicted no new image skips
        the whole ledger)."""
        return ("prediction", "ocr_image") if self.recording else ("prediction",)

    def import_into(self, con: duckdb.DuckDBPyConnection) -> None:
        """Import in one transaction on the session ``con``: a ledger entry says "this image's predictions
        are stored", so both land together (a crash between two commits used to leave the predictions
        without their ledger entries, and the next run re-predicted every image)."""
        from pipelines.store.db import write_transaction
        from pipelines.store.predictions import import_predictions

        with write_transaction(con, purpose=self.purpose):
            imported = import_predictions(con, self.predictions, products=self.products)
            if self.recording:
                assert self.pending is not None
                ocr_ledger.record_images(
                    con, self.pending, server_type=self.flavor.value, fingerprint=self.fingerprint
                )
        self.report.store_import = imported.to_dict()


def predict_bulk(
    flavor: Flavor | str = Flavor.off,
    *,
    ocr_table: Path | None = None,
    types: Sequence[str] | None = None,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    resources: Resources | None = None,
    for_import: bool = True,
    all_images: bool = False,
    progress: Callable[[int], None] | None = None,
    ocr_shards: OcrShards | None = None,
) -> BulkImport:
    """Predict over the snapshot and the OCR images to predict (those the store's ledger does not cover,
    read in a session of its own, unless ``all_images``); nothing is written. ``ocr_shards``: where the
    pending images are predicted (:class:`OcrShards`; default here, batch after batch) — only with the
    ledger (every type, for import)."""
    from pipelines.store.target import store_target

    settings = settings or get_settings()
    resources = resources or default_resources()
    flavor = Flavor(flavor)
    snapshot = products_path(flavor, settings)
    target = store_target(store, settings)
    report = PredictReport(flavor=flavor.value)
    columns = PRODUCT_COLUMNS
    if resources.category_classifier is not None and (types is None or "category" in types):
        columns += CATEGORY_MODEL_COLUMNS
    products = iter_parquet(snapshot, columns, PRODUCT_BATCH_ROWS)
    batches = iter_parquet(ocr_table, None, OCR_BATCH_ROWS) if ocr_table is not None else None
    ocr = ((batch, None) for batch in batches) if batches is not None else None
    ledger = ocr_table is not None and for_import and types is None
    fingerprint = ocr_ledger.predictors_fingerprint(resources) if ledger else ""
    pending = None
    if ledger and batches is not None and ocr_table is not None:
        pending = _pending_images(ocr_table, flavor, target, fingerprint, all_images, report)
        groups = ocr_ledger.type_groups(pending, fingerprint)
        report.images_already_predicted += sum(len(keys) for kinds, keys in groups if kinds == ())
        report.partial_types = sorted({kind for kinds, _ in groups if kinds for kind in kinds})
        ocr = pending_batches(batches, groups)
    elsewhere = None
    if ocr_shards is not None and pending is not None and ocr_table is not None:
        elsewhere = ocr_shards(ocr_table, pending, fingerprint, report)
        ocr = None
    predictions = predict_tables(
        products, ocr, flavor=flavor, types=types, resources=resources, report=report, progress=progress
    )
    if elsewhere is not None:
        predictions = concat_predictions([predictions, elsewhere])
        count_predictions(predictions, report)
    logger.info(
        "%d predictions from %d products and %d images (%d images already predicted)",
        report.predictions,
        report.products,
        report.images,
        report.images_already_predicted,
    )
    valid = prediction_products(predictions, snapshot) if for_import else None
    return BulkImport(flavor, report, predictions, valid, pending, fingerprint)


def pending_batches(
    batches: Iterator[pa.Table], groups: list[tuple[tuple[str, ...] | None, pa.Array]]
) -> Iterator[tuple[pa.Table, tuple[str, ...] | None]]:
    """Each OCR batch's pending images with the types to run over them (``None``: every type)."""
    for batch in batches:
        for kinds, keys in groups:
            if kinds == ():
                continue
            part = ocr_ledger.keep_images(batch, keys)
            if part.num_rows:
                yield part, kinds


def _pending_images(
    ocr_table: Path,
    flavor: Flavor,
    store: StoreTarget,
    fingerprint: str,
    all_images: bool,
    report: PredictReport,
) -> pa.Table:
    """The OCR images to predict: all of them, or those the store's ledger does not cover."""
    from pipelines.store.session import store_session

    hashed = ocr_ledger.ocr_hashes(ocr_table)
    if all_images:
        return hashed.append_column("recorded", pa.nulls(hashed.num_rows, pa.string()))
    purpose = f"OCR ledger {flavor.value}"
    with store_session(store, server_type=flavor.value, purpose=purpose, tables=("ocr_image",)) as con:
        pending = ocr_ledger.pending_images(con, hashed, server_type=flavor.value, fingerprint=fingerprint)
    report.images_already_predicted = hashed.num_rows - pending.num_rows
    return pending

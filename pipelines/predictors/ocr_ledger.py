"""Which OCR images a bulk run must predict: the store's ledger of predicted images, and a fingerprint.

An image's predictions depend only on its OCR result and on the predictors (their code version and the lists
and taxonomies they read). Robotoff predicts an image once, when its OCR is ready; a nightly run that
re-predicted every image of the OCR table would spend nearly all its time re-deriving predictions the store
already holds (an image costs a thousand times a product name, ``docs/predictions.md``). So the store keeps,
per image, the hash of the OCR result and the fingerprint its predictions were computed with (table
``ocr_image``), and the bulk run predicts only the images that are new or whose OCR changed — with every
predictor — and, over the other images, only the predictors whose part of the fingerprint changed: each OCR
predictor has its own digest, of the versions and of the reference files it declares (``Predictor.files``),
so a new label list re-runs the label predictor over every image, not brand, store or packaging. A new
release of the package re-predicts everything once, as it should. The stored predictions come out as a full
re-run would leave them: the import evicts and keeps per (image, type), so the types not re-run keep theirs.

The hash covers the texts and the image-level annotations (orientation, logos, labels, faces, safe search),
not the word boxes: an image whose OCR is run again gets a new text. The expiration-date rule reads the run
date (a ±10-year window), which the fingerprint ignores: a date drifting out of the window over the years is
not worth a full re-prediction.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.common.sql import arrow_table, connect, load_statement, scratch
from pipelines.predictors.base import PREDICTOR_VERSION
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE
from pipelines.store.db import write_transaction

logger = logging.getLogger(__name__)

HASHED_SCHEMA = pa.schema(
    [
        pa.field("barcode", pa.string()),
        pa.field("source_image", pa.string()),
        pa.field("ocr_hash", pa.string()),
    ]
)
# the images to predict, with the fingerprint their predictions were recorded under (null: none, or another
# OCR hash): which types to run again (stale_types)
PENDING_SCHEMA = HASHED_SCHEMA.append(pa.field("recorded", pa.string()))
FINGERPRINT_CHARS = 16  # of a predictor's sha256 digest: enough to tell versions apart, short in the ledger
_KEY_SEPARATOR = "\x1f"


def _package_version() -> str:
    try:
        return version("offpipe")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "source"


def predictor_fingerprints(resources: Resources) -> dict[str, str]:
    """Per OCR prediction type, a digest of what its predictor's output depends on besides the OCR: the
    predictors' version, this package's version, the predictor's own version and the names and contents of
    the reference files it declares (``Predictor.files``)."""
    from pipelines.predictors.registry import PREDICTORS

    folders = {
        "keywords": resources.keywords_dir,
        "grammars": resources.grammars_dir,
        "taxonomies": resources.taxonomy_dir,
    }
    found = {}
    for predictor in PREDICTORS:
        if not predictor.applies_to(OCR_SOURCE):
            continue
        digest = hashlib.sha256()
        digest.update(
            f"predictor_version={PREDICTOR_VERSION};package={_package_version()};"
            f"{predictor.name}={predictor.version}".encode()
        )
        for kind, pattern in predictor.files:
            folder = folders[kind]
            paths = (
                sorted(p for p in folder.glob(pattern) if p.is_file()) if folder and folder.is_dir() else []
            )
            for path in paths:
                digest.update(f"\n{kind}/{path.relative_to(folder)}\n".encode())
                with path.open("rb") as handle:
                    for block in iter(lambda h=handle: h.read(1 << 20), b""):
                        digest.update(block)
        found[predictor.type] = digest.hexdigest()[:FINGERPRINT_CHARS]
    return found


@lru_cache(maxsize=8)
def predictors_fingerprint(resources: Resources) -> str:
    """The ledger's fingerprint: ``type=digest`` per OCR prediction type (:func:`predictor_fingerprints`),
    sorted and ``;``-joined. Computed once per Resources."""
    return ";".join(f"{kind}={digest}" for kind, digest in sorted(predictor_fingerprints(resources).items()))


def _parsed(fingerprint: str) -> dict[str, str]:
    pairs = [item.partition("=") for item in fingerprint.split(";")]
    return {kind: digest for kind, sep, digest in pairs if sep and kind and digest}


def stale_types(recorded: str | None, current: str) -> tuple[str, ...] | None:
    """The prediction types to run again over an image recorded with ``recorded`` (its OCR unchanged):
    those whose digest changed; ``None`` — every type — for an image without an entry, or with an entry of
    the ledger's first format (one digest for every predictor)."""
    if recorded is None:
        return None
    old = _parsed(recorded)
    if not old:
        return None
    return tuple(sorted(kind for kind, digest in _parsed(current).items() if old.get(kind) != digest))


def ocr_hashes(ocr: Path | pa.Table) -> pa.Table:
    """``barcode, source_image, ocr_hash`` of every row of an OCR-text table (a Parquet file, a folder of
    Parquet parts, or a table)."""
    if isinstance(ocr, pa.Table):  # the per-product path: this thread's kept connection
        con = scratch()
        con.register("ocr_rows", ocr)
        try:  # planned once (con.sql would plan it twice): a few rows, the planning is the cost
            return arrow_table(con, load_statement("predictors/ocr_hash")).cast(HASHED_SCHEMA)
        finally:
            con.unregister("ocr_rows")
    parts = str(ocr)
    if ocr.is_dir():  # the OCR dataset (offpipe ocr-sync): its parts, not its quarantine or temp files
        if not any(ocr.rglob("*.parquet")):
            return HASHED_SCHEMA.empty_table()
        parts = str(ocr / "**" / "*.parquet")
    con = connect()
    try:
        con.read_parquet(parts, hive_partitioning=False).create_view("ocr_rows")
        return con.sql(load_statement("predictors/ocr_hash")).to_arrow_table().cast(HASHED_SCHEMA)
    finally:
        con.close()


def pending_images(
    con: duckdb.DuckDBPyConnection, hashed: pa.Table, *, server_type: str, fingerprint: str
) -> pa.Table:
    """Rows of ``hashed`` the store (``con``) holds no predictions for under this OCR hash and fingerprint,
    with the fingerprint they were recorded under for this OCR hash (``recorded``; null: new or changed)."""
    con.register("ocr_hashed", hashed)
    try:
        params = {"server_type": server_type, "fingerprint": fingerprint}
        return (
            con.sql(load_statement("predictors/ocr_pending"), params=params)
            .to_arrow_table()
            .cast(PENDING_SCHEMA)
        )
    finally:
        con.unregister("ocr_hashed")


def record_images(
    con: duckdb.DuckDBPyConnection,
    hashed: pa.Table,
    *,
    server_type: str,
    fingerprint: str,
    now: datetime | None = None,
) -> int:
    """Mark the images of ``hashed`` as predicted (once their predictions are imported); one transaction."""
    if not hashed.num_rows:
        return 0
    params = {"server_type": server_type, "fingerprint": fingerprint, "now": now or datetime.now(UTC)}
    con.register("ocr_recorded", hashed.select(["barcode", "source_image", "ocr_hash"]))
    try:
        with write_transaction(con, purpose="record OCR images"):
            con.execute(load_statement("store/ocr_image_record"), params)
    finally:
        con.unregister("ocr_recorded")
    return hashed.num_rows


def type_groups(pending: pa.Table, fingerprint: str) -> list[tuple[tuple[str, ...] | None, pa.Array]]:
    """The images of ``pending`` (:data:`PENDING_SCHEMA`) grouped by the types to run over them
    (:func:`stale_types`: ``None`` for every type, ``()`` for none), with their keys (:func:`image_keys`)."""
    keys = image_keys(pending)
    memo: dict[str | None, tuple[str, ...] | None] = {}
    rows: dict[tuple[str, ...] | None, list[int]] = {}
    for index, recorded in enumerate(pending.column("recorded").to_pylist()):
        if recorded not in memo:
            memo[recorded] = stale_types(recorded, fingerprint)
        rows.setdefault(memo[recorded], []).append(index)
    return [(types, keys.take(pa.array(indices))) for types, indices in rows.items()]


def _keys(barcodes: pa.ChunkedArray | pa.Array, images: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(barcodes, images, _KEY_SEPARATOR)


def image_keys(images: pa.Table) -> pa.Array:
    """One string per image of a table with ``barcode`` and ``source_image`` columns (:func:`keep_images`)."""
    return _keys(images.column("barcode"), images.column("source_image")).combine_chunks()


def keep_images(ocr: pa.Table, keys: pa.Array) -> pa.Table:
    """The rows of an OCR-text batch whose image is one of ``keys`` (:func:`image_keys`)."""
    if not ocr.num_rows:
        return ocr
    return ocr.filter(pc.is_in(_keys(ocr.column("barcode"), ocr.column("source_image")), value_set=keys))

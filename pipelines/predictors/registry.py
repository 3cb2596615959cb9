"""The list of predictors, and ``predict``: run any subset over product names and OCR texts.

``predict`` is the only entry point, for the nightly run over millions of products and for the
per-product run over one: the caller decides how many rows the input tables hold, never which code runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow as pa

from pipelines.common.config import Flavor
from pipelines.common.errors import OffpipeError
from pipelines.predictors.base import Predictor, finish_name_predictions
from pipelines.predictors.resources import Resources, default_resources
from pipelines.predictors.rules import (
    brand,
    category,
    expiration_date,
    image_flag,
    image_lang,
    image_orientation,
    label,
    nutrient,
    nutrient_mention,
    packager_code,
    packaging,
    product_weight,
    store,
)
from pipelines.predictors.texts import NAME_SOURCE, name_texts, ocr_texts, products_of_server_type
from pipelines.store.schema import COLUMNS, PREDICTION_SCHEMA, concat_predictions, empty_predictions

logger = logging.getLogger(__name__)

PREDICTORS: tuple[Predictor, ...] = (
    category.PREDICTOR,
    label.PREDICTOR,
    packager_code.PREDICTOR,
    product_weight.PREDICTOR,
    expiration_date.PREDICTOR,
    brand.PREDICTOR,
    store.PREDICTOR,
    image_flag.PREDICTOR,
    nutrient.PREDICTOR,
    nutrient_mention.PREDICTOR,
    image_lang.PREDICTOR,
    image_orientation.PREDICTOR,
    packaging.PREDICTOR,
)

PARALLEL_PREDICTORS = 2
PARALLEL_MIN_ROWS = 20_000  # below this, threads cost more than they save (the per-product path)

CATEGORY_TYPE = "category"
# Robotoff's product-name set (``get_predictions_from_product_name``, ``robotoff/insights/extraction.py``).
NAME_TYPES = ("label", "product_weight", "brand")


class UnknownPredictionTypeError(OffpipeError, ValueError):
    """A requested prediction type has no predictor."""


def registered_types() -> list[str]:
    return sorted({p.type for p in PREDICTORS})


def select(types: Sequence[str] | None = None) -> list[Predictor]:
    """Predictors of the requested prediction types (all when None), in registry order."""
    if types is None:
        return list(PREDICTORS)
    unknown = set(types) - set(registered_types())
    if unknown:
        raise UnknownPredictionTypeError(f"no predictor for {sorted(unknown)}; known: {registered_types()}")
    return [p for p in PREDICTORS if p.type in types]


def _to_table(frame: pl.DataFrame, result: pl.DataFrame, predictor: Predictor) -> pa.Table:
    """A predictor's result frame → a prediction table, keys copied from the frame rows it points to."""
    if result.height == 0:
        return empty_predictions()
    if frame["source"][0] == NAME_SOURCE:
        result = finish_name_predictions(result)
    keys = frame.select("barcode", "server_type", "source_image")[result["row"]]
    table = pl.concat([result.drop("row"), keys], how="horizontal").with_columns(
        predictor_version=pl.lit(predictor.version)
    )
    return table.select(COLUMNS).to_arrow().cast(PREDICTION_SCHEMA)


def _runs_on(predictor: Predictor, source: str) -> bool:
    """Whether ``predictor`` reads this source (product names feed only Robotoff's product-name set)."""
    return predictor.applies_to(source) and (source != NAME_SOURCE or predictor.type in NAME_TYPES)


def _run(predictor: Predictor, frame: pl.DataFrame, resources: Resources) -> pa.Table:
    started = time.perf_counter()
    table = _to_table(frame, predictor.run(frame, resources), predictor)
    logger.info(
        "%s on %s: %d rows → %d predictions in %.2fs",
        predictor.name,
        frame["source"][0],
        frame.height,
        table.num_rows,
        time.perf_counter() - started,
    )
    return table


def predict(
    products: pl.DataFrame | pa.Table | None = None,
    ocr: pl.DataFrame | pa.Table | None = None,
    *,
    types: Sequence[str] | None = None,
    flavor: Flavor | str = Flavor.off,
    resources: Resources | None = None,
) -> pa.Table:
    """Predictions of the selected types for every product name of ``products`` and image of ``ocr``.

    ``products`` is a product table (the Parquet snapshot's columns, or any table with ``code`` or
    ``normalized_code``, ``product_name`` and optionally ``product_type``); ``ocr`` an OCR-text table
    (``pipelines.ocr``). Either may be None or hold a single row.
    """
    resources = resources or default_resources()
    frames = []
    if products is not None:
        frames.append(name_texts(products, flavor))
    if ocr is not None:
        frames.append(ocr_texts(ocr, flavor))
    jobs = [
        (predictor, frame)
        for predictor in select(types)
        for frame in frames
        if frame.height and _runs_on(predictor, frame["source"][0])
    ]
    if len(jobs) <= 1 or sum(frame.height for _, frame in jobs) < PARALLEL_MIN_ROWS:
        tables = [_run(predictor, frame, resources) for predictor, frame in jobs]
    else:
        # Predictors are independent. Most of their time is either Polars work (which releases the GIL) or
        # Python `re` (which holds it), so two threads overlap one kind with the other. Results keep the
        # registry order whatever the finishing order.
        with ThreadPoolExecutor(max_workers=PARALLEL_PREDICTORS) as pool:
            tables = list(pool.map(lambda job: _run(job[0], job[1], resources), jobs))
    if products is not None and (types is None or CATEGORY_TYPE in types):
        tables.append(_category_model(products, flavor, resources))
    return concat_predictions(tables)


def _category_model(
    products: pl.DataFrame | pa.Table, flavor: Flavor | str, resources: Resources
) -> pa.Table:
    """The category classifier over the products of its server type (food, as Robotoff's), when one is
    configured (``OFF_CATEGORY_MODEL``); it reads product fields, not texts, so it is not a text predictor."""
    classifier = resources.category_classifier
    if classifier is None:
        return empty_predictions()
    started = time.perf_counter()
    rows = products_of_server_type(products, flavor, classifier.server_type)
    table = classifier.predictions(rows, server_type=classifier.server_type)
    logger.info(
        "category model %s: %d products → %d predictions in %.2fs",
        classifier.version,
        rows.height,
        table.num_rows,
        time.perf_counter() - started,
    )
    return table

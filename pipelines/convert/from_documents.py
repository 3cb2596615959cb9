"""Product documents (MongoDB, Product Opener's API) → snapshot rows, through the conversion's own SQL.

The per-product path must see a product exactly as the nightly run would after the next dump: each document
is serialized as the dump line it would be, and the batch goes through :class:`BatchTransformer`, the same
queries as ``offpipe convert`` — and the same repair of text defects (``repair.py``). Documents the
conversion would quarantine are reported, not returned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.convert.convert import MAX_LINE_BYTES
from pipelines.convert.reader import BATCH_SCHEMA
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.convert.transform import BatchTransformer

logger = logging.getLogger(__name__)


def _line(document: Mapping[str, Any]) -> bytes:
    # MongoDB documents may hold BSON types (ObjectId, datetime): written as text, like the dump export.
    try:
        return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"
    except orjson.JSONEncodeError:
        # A string with a lone surrogate (an API answer may carry "\ud800", which Python's JSON reader keeps)
        # has no UTF-8 form: written as its escape, as in a dump line, for the transformer to repair.
        return json.dumps(document, default=str, ensure_ascii=True).encode("ascii") + b"\n"


def documents_to_rows(
    documents: Iterable[Mapping[str, Any]], *, transformer: BatchTransformer | None = None
) -> tuple[pa.Table, dict[str, int]]:
    """Rows of :data:`PRODUCT_SCHEMA` for ``documents`` (in order), and the quarantine reasons counted."""
    lines = [_line(document) for document in documents]
    if not lines:
        return PRODUCT_SCHEMA.empty_table(), {}
    batch = pa.record_batch(
        [pa.array(np.arange(1, len(lines) + 1, dtype=np.int64)), pa.array(lines, pa.large_binary())],
        schema=BATCH_SCHEMA,
    )
    own = transformer is None
    transformer = transformer or BatchTransformer(MAX_LINE_BYTES, threads=1, memory_limit="512MB")
    repaired_before = transformer.repaired_lines
    try:
        result = transformer(batch)
    finally:
        if own:
            transformer.close()
    if transformer.repaired_lines > repaired_before:
        logger.info(
            "product documents kept with their text repaired: %d",
            transformer.repaired_lines - repaired_before,
        )
    reasons = result.column("_reason")
    good = pc.is_null(reasons)
    quarantined: dict[str, int] = {}
    for reason in reasons.filter(pc.invert(good)).to_pylist():
        quarantined[reason] = quarantined.get(reason, 0) + 1
    if quarantined:
        logger.warning("product documents the conversion refuses: %s", quarantined)
    rows = result.filter(good).select(PRODUCT_SCHEMA.names).cast(PRODUCT_SCHEMA)
    return rows, quarantined

"""What a predictor is, and the pieces every text predictor shares.

A predictor is a function from a text frame (``pipelines.predictors.texts``: product names or OCR'd images,
4 million rows or one) to prediction rows (``pipelines.store.schema``). It declares the prediction
type it produces, the predictor names and version it stamps, the sources it reads and the columns it needs;
``pipelines.predictors.registry`` lists them and ``predict`` runs any subset.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from pipelines.predictors.texts import NAME_SOURCE

PREDICTOR_VERSION = "1"  # Robotoff's PREDICTOR_VERSION of every OCR/text module

Row = dict[str, Any]


@dataclass(frozen=True)
class Predictor:
    """One prediction rule set of Robotoff, run set-based.

    ``run(frame, resources)`` returns a frame of :data:`RESULT_SCHEMA`: the predictions, each with the index
    of the frame row it comes from (the engine copies barcode, server type and source image from it).
    """

    type: str
    name: str
    predictors: tuple[str | None, ...]
    sources: frozenset[str]
    reads: tuple[str, ...]
    run: Callable[[pl.DataFrame, Any], pl.DataFrame]
    version: str = PREDICTOR_VERSION
    # The reference files it reads, as (folder, file-name pattern): folder is "keywords", "taxonomies" or
    # "grammars" (OFF_KEYWORDS_DIR, OFF_TAXONOMY_DIR, OFF_GRAMMARS_DIR). The OCR ledger re-runs a predictor
    # over the images already predicted only when one of these changes (pipelines/predictors/ocr_ledger.py);
    # a test runs each predictor with only these files present.
    files: tuple[tuple[str, str], ...] = ()

    def applies_to(self, source: str) -> bool:
        return source in self.sources


class WordBoxes:
    """Bounding boxes of match spans, from the ``words`` column of an OCR frame (SDK
    ``openfoodfacts/ocr.py``).

    The box of a span ``[start, end)`` is the union of the boxes of the words overlapping it (word end >
    start and word start < end), as the SDK's ``get_match_bounding_box``; None without words (product names,
    images without a full-text annotation) or when no word overlaps.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self._words = frame["words"] if "words" in frame.columns else None
        self._cache: dict[int, tuple[list[int], list[int], list[dict]]] = {}

    def _row(self, row: int) -> tuple[list[int], list[int], list[dict]] | None:
        if self._words is None:
            return None
        if row not in self._cache:
            words = self._words[row]
            if words is None:
                return None
            items = words.to_list() if isinstance(words, pl.Series) else list(words)
            self._cache[row] = ([w["start"] for w in items], [w["end"] for w in items], items)
        return self._cache[row]

    def box(self, row: int, start: int, end: int) -> list[int] | None:
        found = self._row(row)
        if found is None:
            return None
        starts, ends, items = found
        first = bisect_right(ends, start)  # first word ending after `start`
        last = bisect_left(starts, end)  # words from here on start at or after `end`
        overlapping = [w for w in items[first:last] if w["end"] > start and w["start"] < end]
        if not overlapping:
            return None
        return [
            min(w["y_min"] for w in overlapping),
            min(w["x_min"] for w in overlapping),
            max(w["y_max"] for w in overlapping),
            max(w["x_max"] for w in overlapping),
        ]


def with_box(data: dict[str, Any], box: list[int] | None) -> dict[str, Any]:
    """Robotoff adds ``bounding_box_absolute`` last, and only when there is a box."""
    if box is not None:
        data["bounding_box_absolute"] = box
    return data


# What a predictor returns: its predictions, each tied to the frame row (``row``) it comes from. The
# engine adds barcode, server type and source image from that row, and the predictor version.
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.UInt32(),
    "type": pl.String(),
    "value": pl.String(),
    "value_tag": pl.String(),
    "data": pl.String(),
    "automatic_processing": pl.Boolean(),
    "predictor": pl.String(),
    "confidence": pl.Float64(),
}


def empty_result() -> pl.DataFrame:
    return pl.DataFrame(schema=RESULT_SCHEMA)


def rows_to_frame(rows: Iterable[Row]) -> pl.DataFrame:
    """Predictions built one by one in Python (rules that need ``re`` match objects) → a result frame."""
    rows = list(rows)
    if not rows:
        return empty_result()
    columns: dict[str, list[Any]] = {name: [] for name in RESULT_SCHEMA}
    for row in rows:
        for name in RESULT_SCHEMA:
            value = row.get(name)
            if name == "data":
                value = orjson.dumps(value or {}).decode()
            columns[name].append(value)
    return pl.DataFrame(columns, schema=RESULT_SCHEMA)


def has_words(frame: pl.DataFrame) -> bool:
    return "words" in frame.columns and frame["words"].null_count() < frame.height


def match_text_data(frame: pl.DataFrame, matches: pl.DataFrame, text_column: str = "text") -> pl.Series:
    """``data`` = ``{"text": <matched text>[, "bounding_box_absolute": box]}`` for span matches.

    ``matches`` has ``row``, ``start``, ``end`` (character offsets into ``frame[text_column]``). Without
    word boxes (product names) the JSON is built in one vectorized step; with them, the box is looked up
    per match.
    """
    texts = frame[text_column].gather(matches["row"])
    matched = texts.str.slice(matches["start"], matches["end"] - matches["start"])
    if not has_words(frame):
        return pl.select(pl.struct(text=matched).struct.json_encode()).to_series().alias("data")
    boxes = WordBoxes(frame)
    spans = zip(matches["row"].to_list(), matches["start"].to_list(), matches["end"].to_list(), strict=True)
    data = [
        orjson.dumps(with_box({"text": text}, boxes.box(row, start, end))).decode()
        for text, (row, start, end) in zip(matched.to_list(), spans, strict=True)
    ]
    return pl.Series("data", data, dtype=pl.String)


def finish_name_predictions(result: pl.DataFrame) -> pl.DataFrame:
    """Product-name predictions: ``data.source = "product_name"`` (last key) and never automatic
    (``robotoff/insights/extraction.py``)."""
    data = pl.col("data")
    with_source = (
        pl.when(data == "{}")
        .then(pl.lit(f'{{"source":"{NAME_SOURCE}"}}'))
        .otherwise(data.str.strip_suffix("}") + pl.lit(f',"source":"{NAME_SOURCE}"}}'))
    )
    return result.with_columns(data=with_source, automatic_processing=pl.lit(False))


def logo_annotations(frame: pl.DataFrame) -> pl.DataFrame:
    """``row, description, score`` of every Cloud Vision logo annotation of an OCR frame."""
    logos = frame.select(pl.col("logos")).with_row_index("row").explode("logos").drop_nulls("logos")
    return logos.unnest("logos").select("row", "description", "score")


ColumnValue = pl.Expr | str | bool | None


def _column(value: ColumnValue, dtype: pl.DataType) -> pl.Expr:
    """A constant (or null) becomes a typed literal; an expression is cast to the result column's type."""
    if isinstance(value, pl.Expr):
        return value.cast(dtype)
    return pl.lit(value, dtype=dtype)


def result_columns(
    prediction_type: str,
    data: pl.Expr | pl.Series,
    *,
    value: ColumnValue = None,
    value_tag: ColumnValue = None,
    automatic_processing: ColumnValue = None,
    predictor: ColumnValue = None,
    confidence: pl.Expr | None = None,
) -> list[pl.Expr]:
    """The :data:`RESULT_SCHEMA` columns for ``frame.select(...)`` of a vectorized predictor.

    ``frame`` must hold a ``row`` column; each argument is a constant, null, or an expression over
    ``frame`` (strings name columns only when wrapped in ``pl.col``).
    """
    data_expr = pl.lit(data) if isinstance(data, pl.Series) else data
    return [
        pl.col("row").cast(pl.UInt32),
        pl.lit(prediction_type).alias("type"),
        _column(value, pl.String()).alias("value"),
        _column(value_tag, pl.String()).alias("value_tag"),
        data_expr.cast(pl.String).alias("data"),
        _column(automatic_processing, pl.Boolean()).alias("automatic_processing"),
        _column(predictor, pl.String()).alias("predictor"),
        _column(confidence, pl.Float64()).alias("confidence"),
    ]

"""Image orientation predictions (``robotoff/prediction/ocr/image_orientation.py``): which way the text of an
image is turned.

The SDK gives every OCR word an orientation from the order of its bounding polygon's vertices (up, left,
down, right, or unknown for odd polygons); the OCR table keeps the per-image counts in first-seen order
(``orientation`` column). The image's orientation is the most frequent one, the first seen among ties (as
``Counter.most_common(1)``), ``unknown`` when there are no words; the rotation that would put the image
upright follows from it. Images without a full-text annotation (null ``orientation``) get no prediction.

``data = {"count": {orientation: n, …}, "orientation": name, "rotation": degrees}``; value, value tag,
predictor and automatic processing are None. Everything is computed with list expressions, one pass.
"""

from __future__ import annotations

import polars as pl

from pipelines.predictors.base import Predictor, empty_result, result_columns
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "image_orientation"
UNKNOWN = "unknown"

# Clockwise degrees to turn the image upright, by detected text orientation.
ROTATION: dict[str, int] = {"up": 0, UNKNOWN: 0, "left": 90, "right": 270, "down": 180}


def _majority() -> pl.Expr:
    """The orientation with the highest count, the first one listed among ties; ``unknown`` for none."""
    counts = pl.col("orientation").list.eval(pl.element().struct.field("count"))
    names = pl.col("orientation").list.eval(pl.element().struct.field("orientation"))
    return names.list.get(counts.list.arg_max(), null_on_oob=True).fill_null(UNKNOWN)


def _count_object() -> pl.Expr:
    """The JSON object ``{"up": 143, "left": 2}`` of an image's counts, in the column's order.

    Orientation names are the SDK's enum names (plain identifiers), so they need no JSON escaping.
    """
    pairs = pl.col("orientation").list.eval(
        pl.concat_str(
            pl.lit('"'),
            pl.element().struct.field("orientation"),
            pl.lit('":'),
            pl.element().struct.field("count").cast(pl.String),
        )
    )
    return pl.lit("{") + pairs.list.join(",") + pl.lit("}")


def run(frame: pl.DataFrame, resources: Resources | None = None) -> pl.DataFrame:
    """Robotoff's ``find_image_orientation`` over every image of ``frame``."""
    if "orientation" not in frame.columns:
        return empty_result()
    images = (
        frame.select("orientation")
        .with_row_index("row")
        .filter(pl.col("orientation").is_not_null())
        .with_columns(majority=_majority())
    )
    if images.height == 0:
        return empty_result()
    rotation = pl.col("majority").replace_strict(ROTATION, return_dtype=pl.Int64).cast(pl.String)
    data = pl.concat_str(
        pl.lit('{"count":'),
        _count_object(),
        pl.lit(',"orientation":"'),
        pl.col("majority"),
        pl.lit('","rotation":'),
        rotation,
        pl.lit("}"),
    )
    return images.select(result_columns(TYPE, data))


PREDICTOR = Predictor(
    type=TYPE,
    name="image_orientation",
    predictors=(None,),
    sources=frozenset({OCR_SOURCE}),
    reads=("orientation",),
    run=run,
)

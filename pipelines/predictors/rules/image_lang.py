"""Image language predictions (``robotoff/prediction/ocr/image_lang.py``): how many OCR words are in each
language.

The SDK counts, per word of the full-text annotation, one for each language Cloud Vision detected on it
(``null`` when none), plus ``words``, the number of words; the OCR table keeps those counts in first-seen
order (``languages`` column, ``words`` included). Robotoff stores them with each language's share of the
words: ``data = {"count": {key: n, …}, "percent": {language: n * 100 / words, …}}`` (``percent`` has every
key but ``words``, in the same order). Value, value tag, predictor and automatic processing are None.

Images without a full-text annotation (null ``languages``) get no prediction. An annotation without any
paragraph has no ``words`` count at all: Robotoff fails on it (``KeyError``); no prediction here.

The JSON is assembled with column expressions (one row per image and key): keys are escaped by Polars'
own JSON encoder, counts and percents are printed as the shortest round-trip decimal, as Python's
``json``/``orjson`` print them.
"""

from __future__ import annotations

import polars as pl

from pipelines.predictors.base import Predictor, empty_result, result_columns
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "image_lang"
WORDS = "words"


def _json_string(text: pl.Expr) -> pl.Expr:
    """A string as a JSON string literal (quotes and escapes from Polars' JSON encoder)."""
    return pl.struct(k=text).struct.json_encode().str.strip_prefix('{"k":').str.strip_suffix("}")


def _word_count() -> pl.Expr:
    """The ``words`` count of an image's languages, null when the key is missing."""
    counts = pl.col("languages").list.eval(
        pl.element().filter(pl.element().struct.field("key") == WORDS).struct.field("count")
    )
    return counts.list.first()


def _members(images: pl.DataFrame) -> pl.DataFrame:
    """One row per (image, key): the ``"key":n`` member of ``count`` and, but for ``words``, of ``percent``.

    The percent is a float division of exact integers, hence the same double as Python's ``n * 100 / words``.
    """
    entries = images.explode("languages").unnest("languages")
    key = _json_string(pl.col("key")) + pl.lit(":")
    share = pl.col("count").cast(pl.Float64) * 100.0 / pl.col("words").cast(pl.Float64)
    return entries.select(
        "row",
        count_member=key + pl.col("count").cast(pl.String),
        percent_member=pl.when(pl.col("key") != WORDS).then(key + share.cast(pl.String)),
    )


def run(frame: pl.DataFrame, resources: Resources | None = None) -> pl.DataFrame:
    """Robotoff's ``get_image_lang`` over every image of ``frame``."""
    if "languages" not in frame.columns:
        return empty_result()
    images = (
        frame.select("languages")
        .with_row_index("row")
        .filter(pl.col("languages").is_not_null())
        .with_columns(words=_word_count())
        .filter(pl.col("words").is_not_null())
    )
    if images.height == 0:
        return empty_result()
    objects = (
        _members(images)
        .group_by("row", maintain_order=True)
        .agg(
            counts=pl.col("count_member").str.join(","),
            percents=pl.col("percent_member").drop_nulls().str.join(","),
        )
    )
    data = pl.concat_str(
        pl.lit('{"count":{'), pl.col("counts"), pl.lit('},"percent":{'), pl.col("percents"), pl.lit("}}")
    )
    return objects.select(result_columns(TYPE, data))


PREDICTOR = Predictor(
    type=TYPE,
    name="image_lang",
    predictors=(None,),
    sources=frozenset({OCR_SOURCE}),
    reads=("languages",),
    run=run,
)

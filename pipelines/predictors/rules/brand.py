"""Brand predictions (``robotoff/prediction/ocr/brand.py``): two keyword lists and (OCR only) Cloud Vision
logos.

- ``brand.txt`` (``tag||Name||pattern``), predictor ``curated-list``, automatic;
- ``brand_from_taxonomy.gz`` (``tag||Name``), predictor ``taxonomy``, not automatic;
  both without all-digit names and blacklisted tags; value = Name, value_tag = tag, ``data.text`` = the
  matched text as written;
- OCR only: a logo description found in ``brand_logo_annotation.txt`` gives value = Name, value_tag =
  ``get_tag(Name)``, predictor ``google-cloud-vision``, confidence = logo score.

Both keyword lists are matched in one pass (``match_keywords``), each with its own leftmost-longest choice.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
from openfoodfacts.utils.text import get_tag

from pipelines.predictors.base import (
    Predictor,
    Row,
    empty_result,
    logo_annotations,
    match_text_data,
    result_columns,
    rows_to_frame,
)
from pipelines.predictors.keywords import lower_text, match_keywords
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "brand"


def _keywords(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    lists = {"curated-list": resources.curated_brands, "taxonomy": resources.taxonomy_brands}
    matches = match_keywords(frame["text"], lists, lower_text(frame))
    if matches.height == 0:
        return empty_result()
    values = pl.concat([keywords.frame().with_columns(list=pl.lit(name)) for name, keywords in lists.items()])
    matches = matches.join(values, on=["list", "keyword"], how="left", maintain_order="left")
    # Robotoff emits the curated list's predictions before the taxonomy list's: match_keywords returns its
    # matches ordered by list name, row and position, and "curated-list" sorts before "taxonomy".
    return matches.select(
        result_columns(
            TYPE,
            match_text_data(frame, matches),
            value=pl.col("name"),
            value_tag=pl.col("key"),
            automatic_processing=pl.col("list") == "curated-list",
            predictor=pl.col("list"),
        )
    )


def _logo_rows(frame: pl.DataFrame, resources: Resources) -> Iterable[Row]:
    if "logos" not in frame.columns:
        return
    known = resources.brand_logos
    for row, description, score in logo_annotations(frame).iter_rows():
        if description in known:
            name = known[description]
            yield {
                "row": row,
                "type": TYPE,
                "value": name,
                "value_tag": get_tag(name),
                "automatic_processing": False,
                "predictor": "google-cloud-vision",
                "confidence": score,
                "data": {},
            }


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_brands`` over every row of ``frame``."""
    return pl.concat([_keywords(frame, resources), rows_to_frame(_logo_rows(frame, resources))])


PREDICTOR = Predictor(
    type=TYPE,
    name="brand",
    predictors=("curated-list", "taxonomy", "google-cloud-vision"),
    sources=frozenset({NAME_SOURCE, OCR_SOURCE}),
    reads=("text", "words", "logos"),
    run=run,
    files=(
        ("keywords", "brand.txt"),
        ("keywords", "brand_from_taxonomy.gz"),
        ("keywords", "brand_taxonomy_blacklist.txt"),
        ("keywords", "brand_logo_annotation.txt"),
    ),
)

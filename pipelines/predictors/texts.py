"""The text tables predictors read: one row per product name, or one row per OCR'd image.

Robotoff's text predictors take either an ``OCRResult`` or a plain string (the product name), and read one
of three texts (the SDK's ``openfoodfacts/ocr.py``): ``full_text`` (blocks and pages separated by ``|``,
newlines kept), ``full_text_contiguous`` (newlines and in-page ``|`` turned into spaces) or, when the rule
names no field, the contiguous text falling back to the API's ``textAnnotations[0]`` text. A plain string is
all three at once. Both sources become the same frame, so every predictor has one implementation:

``barcode, server_type, source_image, source, full_text, full_text_contiguous, text, text_lower`` (the
default text lowercased once for every keyword predictor), ``words`` (+ the OCR
table's annotation columns for images). ``words`` (character spans and boxes) is null for names: no
bounding boxes, exactly as Robotoff.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from pipelines.common.config import FLAVOR_PRODUCT_TYPES, PRODUCT_TYPE_FLAVORS, Flavor
from pipelines.predictors.keywords import lowercase

NAME_SOURCE = "product_name"
OCR_SOURCE = "ocr"
TEXT_COLUMNS = ("full_text", "full_text_contiguous", "text")

# Server types whose product names Robotoff reads: food only (``robotoff/workers/tasks/product_updated.py``).
NAME_SERVER_TYPES = ("off", "off_pro")


def _server_type(flavor: Flavor | str) -> pl.Expr:
    """Server type of each product: its own ``product_type`` when known, else the snapshot's flavor."""
    default = Flavor(flavor).value
    mapping = {product_type: f.value for product_type, f in PRODUCT_TYPE_FLAVORS.items()}
    if Flavor(flavor) is Flavor.off_pro:  # the producers' platform keeps its own server type
        return pl.lit(default)
    return pl.col("product_type").replace_strict(mapping, default=default, return_dtype=pl.String)


def products_of_server_type(
    products: pl.DataFrame | pa.Table, flavor: Flavor | str, server_type: str
) -> pl.DataFrame:
    """The rows of ``products`` whose server type (from ``product_type``, else the flavor's) is
    ``server_type``, with a ``barcode`` column (the normalized code): product-level predictors' input."""
    frame = products if isinstance(products, pl.DataFrame) else pl.from_arrow(products)
    assert isinstance(frame, pl.DataFrame)
    if "product_type" not in frame.columns:
        frame = frame.with_columns(product_type=pl.lit(FLAVOR_PRODUCT_TYPES[Flavor(flavor)]))
    code = pl.col("normalized_code") if "normalized_code" in frame.columns else pl.col("code")
    return frame.with_columns(barcode=code).filter(
        pl.col("barcode").is_not_null() & (_server_type(flavor) == server_type)
    )


def main_product_name() -> pl.Expr:
    """The top-level ``product_name`` (item ``main`` of the language list; not ``product_name_<lang>``)."""
    return (
        pl.col("product_name")
        .list.eval(pl.element().filter(pl.element().struct.field("lang") == "main").struct.field("text"))
        .list.first()
    )


def name_texts(products: pl.DataFrame | pa.Table, flavor: Flavor | str = Flavor.off) -> pl.DataFrame:
    """Product names to predict from: non-empty names of food products, one row per product."""
    frame = products if isinstance(products, pl.DataFrame) else pl.from_arrow(products)
    assert isinstance(frame, pl.DataFrame)
    if "product_type" not in frame.columns:
        frame = frame.with_columns(product_type=pl.lit(FLAVOR_PRODUCT_TYPES[Flavor(flavor)]))
    name = main_product_name() if frame.schema["product_name"] != pl.String else pl.col("product_name")
    texts = frame.select(
        barcode=pl.col("normalized_code") if "normalized_code" in frame.columns else pl.col("code"),
        server_type=_server_type(flavor),
        name=name,
    ).filter(
        pl.col("barcode").is_not_null()
        & (pl.col("name").fill_null("") != "")
        & pl.col("server_type").is_in(NAME_SERVER_TYPES)
    )
    texts = texts.select(
        "barcode",
        "server_type",
        source_image=pl.lit(None, dtype=pl.String),
        source=pl.lit(NAME_SOURCE),
        full_text=pl.col("name"),
        full_text_contiguous=pl.col("name"),
        text=pl.col("name"),
    )
    return texts.with_columns(text_lower=lowercase(texts["text"]))


def ocr_texts(ocr: pl.DataFrame | pa.Table, flavor: Flavor | str = Flavor.off) -> pl.DataFrame:
    """OCR'd images to predict from (the ``ocr_texts`` table of ``pipelines.ocr``), one row per image."""
    frame = ocr if isinstance(ocr, pl.DataFrame) else pl.from_arrow(ocr)
    assert isinstance(frame, pl.DataFrame)
    contiguous = pl.col("full_text_contiguous").fill_null("")
    default_text = (
        pl.when(contiguous != "").then(contiguous).otherwise(pl.col("text_annotation").fill_null(""))
    )
    frame = frame.with_columns(
        server_type=pl.lit(Flavor(flavor).value),
        source=pl.lit(OCR_SOURCE),
        full_text=pl.col("full_text").fill_null(""),
        full_text_contiguous=contiguous,
        text=default_text,
    )
    return frame.with_columns(text_lower=lowercase(frame["text"]))

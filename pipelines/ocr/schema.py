"""The explicit schema of the OCR text table: one row per OCR'd image, everything the predictors read.

Robotoff parses each image's Google Cloud Vision JSON with the SDK (``openfoodfacts.ocr.OCRResult``) every
time a predictor runs. The batch pipeline parses it once, here, and keeps what the set-based predictors need:
the two SDK texts (matches run over them), the fallback text annotation, every word's character span and
bounding box (a match's bounding box is the union of the boxes of the words it overlaps), and the small
per-image facts of the ``image_lang``, ``image_orientation`` and ``image_flag`` predictors. Never inferred:
every column and type is declared here and the ingestion casts to exactly this schema (``docs/ocr.md``).
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
I32 = pa.int32()
F64 = pa.float64()

WORD = pa.struct(
    [
        pa.field("start", I32),
        pa.field("end", I32),
        pa.field("y_min", I32),
        pa.field("x_min", I32),
        pa.field("y_max", I32),
        pa.field("x_max", I32),
    ]
)
LANGUAGE_COUNT = pa.struct([pa.field("key", STR), pa.field("count", I32)])
ORIENTATION_COUNT = pa.struct([pa.field("orientation", STR), pa.field("count", I32)])
SCORED = pa.struct([pa.field("description", STR), pa.field("score", F64)])
SAFE_SEARCH_KEYS = ("adult", "spoof", "medical", "violence", "racy")
SAFE_SEARCH = pa.struct([pa.field(key, STR) for key in SAFE_SEARCH_KEYS])

OCR_TEXT_SCHEMA = pa.schema(
    [
        pa.field("barcode", STR, nullable=False),
        pa.field("image_id", STR, nullable=False),
        pa.field("source_image", STR, nullable=False),
        pa.field("ocr_source", STR, nullable=False),
        pa.field("full_text", STR),
        pa.field("full_text_contiguous", STR),
        pa.field("text_annotation", STR),
        pa.field("words", pa.list_(WORD)),
        pa.field("languages", pa.list_(LANGUAGE_COUNT)),
        pa.field("orientation", pa.list_(ORIENTATION_COUNT)),
        pa.field("logos", pa.list_(SCORED)),
        pa.field("labels", pa.list_(SCORED)),
        pa.field("faces", pa.list_(F64)),
        pa.field("safe_search", SAFE_SEARCH),
    ]
)

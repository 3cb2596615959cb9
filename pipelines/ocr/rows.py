"""One OCR JSON → one row of the OCR text table, through the SDK's own parser.

Every text, offset, language count and orientation count comes from ``openfoodfacts.ocr.OCRResult``, the
parser Robotoff runs: the predictors must see exactly the strings Robotoff matches against, and a
reimplementation would drift from it on the odd cases (prefix breaks, paragraph separators, pages). What this
module adds is what the SDK leaves to its callers: reading the barcode and image id from an archive path with
Product Opener's validation, telling *why* a document cannot be used (so the ingestion can count and
quarantine it), and flattening the SDK objects into Arrow values.

The nightly ingestion and the per-image fetch both build their rows here (:func:`build_row`), so the two
paths cannot disagree.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from openfoodfacts.ocr import OCRResult, Word

from pipelines import barcodes
from pipelines.common.errors import OffpipeError
from pipelines.ocr.schema import OCR_TEXT_SCHEMA, SAFE_SEARCH_KEYS

# Why a line or a document is not turned into a row (the quarantine's ``reason``).
EMPTY_LINE = "empty_line"
NOT_JSON = "not_json"
BAD_RECORD = "bad_record"  # JSON, but not {"source": str, "content": object}
INVALID_SOURCE = "invalid_source"  # the source path does not end in <image id>.json
INVALID_BARCODE = "invalid_barcode"
INVALID_IMAGE_ID = "invalid_image_id"
NO_RESPONSES = "no_responses"
OCR_ERROR = "ocr_error"  # Cloud Vision answered with an error for this image
PARSE_ERROR = "parse_error"  # the SDK (or the Arrow conversion) could not read the response
DUPLICATE_IMAGE = "duplicate_image"

_DIGITS = re.compile(r"[0-9]+")
_OCR_SUFFIXES = (".json.gz", ".json")
_ROOTS = frozenset({"", "products"})  # what may sit above the barcode folders: the root, /images/products
_INT32 = (-(2**31), 2**31 - 1)
_DETAIL_CHARS = 300


class OcrRecordError(OffpipeError, ValueError):
    """A document (or archive line) that cannot become a row; ``reason`` is one of the constants above."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:_DETAIL_CHARS]


class InvalidOcrSourceError(OcrRecordError, barcodes.InvalidBarcodeError):
    """An invalid barcode or image id: also a :class:`~pipelines.barcodes.InvalidBarcodeError`, so callers
    that guard every edge against bad codes catch it with the rest."""


def parse_source(source: str) -> tuple[str, str]:
    """The normalized barcode and the image id of an OCR path or URL (``/303/835/001/3804/11.json``).

    The barcode is the concatenation of the digit folders right above the file, as the SDK's
    ``extract_barcode_from_path`` reads it (so the legacy layout ``/12345678/1.json`` works too), but
    normalized and validated with Product Opener's rules: a path made of 1–3 digits or of more than 24 is
    rejected instead of producing a bogus code. Only ASCII digits count (``str.isdigit`` would accept ``²``),
    and the digit folders must start at the root or below ``…/products``.
    """
    path = urlsplit(source).path if "://" in source else source
    pure = PurePosixPath(path)
    name = pure.name
    suffix = next((s for s in _OCR_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise InvalidOcrSourceError(INVALID_SOURCE, f"not an OCR JSON path: {source!r}")
    image_id = name[: -len(suffix)]
    if not _DIGITS.fullmatch(image_id):
        raise InvalidOcrSourceError(INVALID_IMAGE_ID, f"image id {image_id!r} in {source!r}")
    folders: list[str] = []
    above = ""
    for parent in pure.parents:
        if not _DIGITS.fullmatch(parent.name):
            above = parent.name
            break
        folders.append(parent.name)
    if above not in _ROOTS:
        # ``/org-xyz/303/…`` (an owner folder we cannot represent) or ``/303/8a5/…``: the SDK would read a
        # partial barcode from the digits below it; a wrong code is worse than a skipped image.
        raise InvalidOcrSourceError(INVALID_SOURCE, f"folder {above!r} above the barcode in {source!r}")
    digits = "".join(reversed(folders))
    if not barcodes.is_valid_code(digits):
        raise InvalidOcrSourceError(INVALID_BARCODE, f"barcode {digits!r} in {source!r}")
    return barcodes.validated_code(digits), image_id


def checked_ids(barcode: str, image_id: str | int) -> tuple[str, str]:
    """Normalized barcode and digit-only image id, or :class:`InvalidOcrSourceError`."""
    if not barcodes.is_valid_code(barcode):
        raise InvalidOcrSourceError(INVALID_BARCODE, f"barcode {barcode!r}")
    image = str(image_id)
    if not _DIGITS.fullmatch(image):
        raise InvalidOcrSourceError(INVALID_IMAGE_ID, f"image id {image!r}")
    return barcodes.validated_code(barcode), image


def parse_ocr(payload: Any) -> OCRResult:
    """The SDK's ``OCRResult`` of a Cloud Vision document, or :class:`OcrRecordError` saying why not.

    The checks before the SDK call only name the failure; the SDK's ``OCRResult.from_json`` still decides
    (it reads ``responses[0]``, and refuses an error response or an empty list, as Robotoff does).
    """
    if not isinstance(payload, dict):
        raise OcrRecordError(BAD_RECORD, f"OCR content is a {type(payload).__name__}, not an object")
    responses = payload.get("responses")
    if not isinstance(responses, list) or not responses:
        raise OcrRecordError(NO_RESPONSES, "no 'responses' list, or an empty one")
    first = responses[0]
    if not isinstance(first, dict):
        raise OcrRecordError(PARSE_ERROR, f"responses[0] is a {type(first).__name__}, not an object")
    if "error" in first:
        raise OcrRecordError(OCR_ERROR, str(first["error"]))
    try:
        result = OCRResult.from_json(payload)
    except Exception as exc:
        raise OcrRecordError(PARSE_ERROR, _describe(exc)) from exc
    if result is None:  # from_json is typed Optional; it never returns None when it does not raise
        raise OcrRecordError(PARSE_ERROR, "the SDK returned no result")
    return result


def build_row(payload: Any, *, barcode: str, image_id: str | int, source: str) -> dict[str, Any]:
    """One row of :data:`~pipelines.ocr.schema.OCR_TEXT_SCHEMA` (a dict), or :class:`OcrRecordError`.

    ``barcode`` may be raw: it is normalized and validated here, like the image id, before it is used to
    build ``source_image`` (Robotoff's key of an image's predictions).
    """
    code, image = checked_ids(barcode, image_id)
    result = parse_ocr(payload)
    try:
        derived = _derived(result)
    except OcrRecordError:
        raise
    except Exception as exc:  # the SDK's derivations fail on odd geometry (e.g. a word with one vertex)
        raise OcrRecordError(PARSE_ERROR, _describe(exc)) from exc
    return {
        "barcode": code,
        "image_id": image,
        "source_image": barcodes.image_path(code, image),
        "ocr_source": source,
        **derived,
    }


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows built by :func:`build_row` as a table of exactly the OCR text schema."""
    return pa.Table.from_pylist(rows, schema=OCR_TEXT_SCHEMA)


def ocr_table_from_json(payload: Any, *, barcode: str, image_id: str | int, source: str) -> pa.Table:
    """A one-row table for one Cloud Vision document: the per-image twin of the archive ingestion.

    Raises :class:`OcrRecordError` (with the quarantine reason) when the document cannot be used, and
    :class:`InvalidOcrSourceError` (also an ``InvalidBarcodeError``) for an invalid barcode or image id.
    """
    row = build_row(payload, barcode=barcode, image_id=image_id, source=source)
    try:
        return rows_to_table([row])
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise OcrRecordError(PARSE_ERROR, _describe(exc)) from exc


def _derived(result: OCRResult) -> dict[str, Any]:
    """The SDK-derived columns of one parsed result."""
    annotation = result.full_text_annotation
    languages = result.get_languages()
    orientation = result.get_orientation()
    safe_search = result.get_safe_search_annotation()
    return {
        "full_text": result.get_full_text() if annotation is not None else None,
        "full_text_contiguous": result.get_full_text_contiguous() if annotation is not None else None,
        "text_annotation": result.text_annotations[0].text if result.text_annotations else None,
        "words": [_word(word) for word in _words(result)] if annotation is not None else None,
        "languages": (
            [{"key": key, "count": count} for key, count in languages.items()]
            if languages is not None
            else None
        ),
        # OrientationResult.count keeps the Counter's first-seen order, so the majority is the first of the
        # largest counts, as Counter.most_common(1) picks it.
        "orientation": (
            [{"orientation": name, "count": count} for name, count in orientation.count.items()]
            if orientation is not None
            else None
        ),
        "logos": [{"description": a.description, "score": a.score} for a in result.get_logo_annotations()],
        "labels": [{"description": a.description, "score": a.score} for a in result.get_label_annotations()],
        "faces": [face.detection_confidence for face in result.get_face_annotations()],
        "safe_search": (
            {key: getattr(safe_search, key).name for key in SAFE_SEARCH_KEYS}
            if safe_search is not None
            else None
        ),
    }


def _words(result: OCRResult) -> list[Word]:
    """Every word of the full text annotation, in text order (the order of the SDK's offsets)."""
    annotation = result.full_text_annotation
    if annotation is None:
        return []
    return [
        word
        for page in annotation.pages
        for block in page.blocks
        for paragraph in block.paragraphs
        for word in paragraph.words
    ]


def _word(word: Word) -> dict[str, int | None]:
    """A word's SDK offsets and the min/max of its vertices, read as ``compute_words_union_bounding_box``
    reads them (missing ``x``/``y`` count as 0, which the SDK's ``BoundingPoly`` already applied).

    A word without vertices has null coordinates: the SDK's union skips it, and SQL's min/max skip nulls.
    """
    xs = [_coord(x) for x, _y in word.bounding_poly.vertices]
    ys = [_coord(y) for _x, y in word.bounding_poly.vertices]
    return {
        "start": word.start_idx,
        "end": word.end_idx,
        "y_min": min(ys) if ys else None,
        "x_min": min(xs) if xs else None,
        "y_max": max(ys) if ys else None,
        "x_max": max(xs) if xs else None,
    }


def _coord(value: Any) -> int:
    """A vertex coordinate as an int32; anything else is a parse error, never a silent truncation."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not _INT32[0] <= value <= _INT32[1]:
        raise OcrRecordError(PARSE_ERROR, f"vertex coordinate {value!r} is not a 32-bit integer")
    return value


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception and its cause (the SDK wraps parse errors in a generic one)."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return text

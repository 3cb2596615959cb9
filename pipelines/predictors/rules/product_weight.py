"""Product weight predictions (``robotoff/prediction/ocr/product_weight.py``): four regex matchers and
Robotoff's validation.

All four read the contiguous text, case-insensitively; the unit list ends with optional ``e`` (the ℮ sign,
stripped). Matchers in Robotoff's order, with their priority:

- ``with_mention`` (1): a prompt ("poids net", "net weight", "peso neto"…), optional ``:``, number, unit;
- ``with_ending_mention`` (1): number, unit, " net";
- ``multi_packaging`` (2): ``N x number unit``;
- ``no_mention`` (3): number and a unit carrying the ℮ suffix only.

Validation (``is_valid_weight``, ``is_extreme_weight``, ``is_suspicious_weight`` in Robotoff): the value must
be a positive integer written without a leading 0 (``1,5 kg`` is rejected), its weight normalized to g or ml
must lie strictly between 10 and 10,000, packs hold at most 20 items, and a normalized value above 1,000
whose last digit is not 0 is "suspicious": not automatic.

Normalization reproduces what Robotoff gets from pint (``normalize_weight``): same-unit values keep their
magnitude, the others are multiplied by pint's conversion factor as pint stores it (ounce and pound carry
pint's rounding: 28.349523125000005 and 453.5923700000001 g), and a value within float tolerance of an
integer becomes that integer. The factors were checked against pint 0.24 on every integer from 1 to 20,000.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import polars as pl

from pipelines.predictors.base import RESULT_SCHEMA, Predictor, WordBoxes, has_words, with_box
from pipelines.predictors.regex import TextRegex, candidate_rows, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "product_weight"
_UNITS = r"(fl oz|dle?|cle?|mge?|mle?|lbs|oz|ge?|kge?|le?)"
_NUMBER = r"([0-9]+[,.]?[0-9]*)"
_E_SUFFIXED = ("dle", "cle", "mge", "mle", "ge", "kge", "le")

# unit → (normalized unit, factor); None = the normalized unit itself (pint keeps the magnitude as is).
_FACTORS: dict[str, tuple[str, float | None]] = {
    "g": ("g", None),
    "kg": ("g", 1000.0),
    "mg": ("g", 0.001),
    "oz": ("g", 28.349523125000005),
    "lbs": ("g", 453.5923700000001),
    "ml": ("ml", None),
    "l": ("ml", 1000.0),
    "dl": ("ml", 100.0),
    "cl": ("ml", 10.0),
}


def _matcher(name: str, pattern: str, priority: int, kind: str, automatic: bool | None) -> TextRegex:
    return TextRegex(
        name,
        re.compile(pattern, re.I),
        "full_text_contiguous",
        {"priority": priority, "kind": kind, "automatic": automatic},
    )


MATCHERS: tuple[TextRegex, ...] = (
    _matcher(
        "with_mention",
        r"(?<![a-z])(poids|poids net [aà] l'emballage|poids net|poids net égoutté|masse nette"
        r"|volume net total|net weight|net wt\.?|peso neto|peso liquido|netto[ -]?gewicht)\s?:?\s?"
        + _NUMBER
        + r"\s?"
        + _UNITS
        + r"(?![a-z])",
        1,
        "prompt",
        True,
    ),
    _matcher(
        "with_ending_mention",
        r"(?<![a-z])" + _NUMBER + r"\s?" + _UNITS + r"\s(net)(?![a-z])",
        1,
        "ending_prompt",
        True,
    ),
    _matcher(
        "multi_packaging",
        r"(?<![a-z])(\d+)\s?x\s?" + _NUMBER + r"\s?" + _UNITS + r"(?![a-z])",
        2,
        "multi",
        None,
    ),
    _matcher(
        "no_mention",
        r"(?<![a-z])" + _NUMBER + r"\s?(dle|cle|mge|mle|ge|kge)(?![a-z])",
        3,
        "plain",
        False,
    ),
)


def is_valid_weight(value: str) -> bool:
    """A positive integer, not written with a leading 0 unless it has a decimal point."""
    value = value.replace(",", ".")
    if value.startswith("0") and "." not in value:
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    return number > 0 and float(int(number)) == number


def normalize_weight(value: str, unit: str) -> tuple[int | float, str]:
    """Value in g or ml, as Robotoff's pint-based ``normalize_weight`` returns it."""
    value = value.replace(",", ".")
    if unit == "fl oz":  # a fluid ounce is 30 ml on nutrition labels
        value, unit = str(float(value) * 30), "ml"
    magnitude: int | float = float(value) if ("." in value or "e" in value.lower()) else int(value)
    normalized_unit, factor = _FACTORS[unit]
    result = magnitude if factor is None else magnitude * factor
    if math.isclose(math.floor(result), result):
        result = math.floor(result)
    return result, normalized_unit


def is_extreme_weight(value: float, count: str | None = None) -> bool:
    """More than 20 items, or a weight outside (10, 10,000) g or ml: most likely misread."""
    if count is not None and int(count) > 20:
        return True
    return value >= 10000 or value <= 10


def is_suspicious_weight(value: float) -> bool:
    """Above 1,000 with a last digit other than 0 (``robotoff/prediction/ocr/product_weight.py``)."""
    return value > 1000 and str(int(value))[-1] != "0"


def _unit(raw: str) -> str:
    unit = raw.lower()
    return unit[:-1] if unit in _E_SUFFIXED else unit


def _single(match: re.Match, kind: str, automatic: bool) -> dict[str, Any] | None:
    if kind == "prompt":
        prompt, value, unit = match.group(1), match.group(2), match.group(3)
    elif kind == "ending_prompt":
        value, unit, prompt = match.group(1), match.group(2), match.group(3)
    else:
        prompt, value, unit = None, match.group(1), match.group(2)
    unit = _unit(unit)
    if not is_valid_weight(value):
        return None
    value = value.strip(".")
    normalized, normalized_unit = normalize_weight(value, unit)
    if is_extreme_weight(normalized):
        return None
    data: dict[str, Any] = {
        "text": f"{value} {unit}",
        "raw": match.group(),
        "value": value,
        "unit": unit,
        "normalized_value": normalized,
        "normalized_unit": normalized_unit,
        "automatic_processing": automatic and not is_suspicious_weight(normalized),
    }
    if prompt is not None:
        data["prompt"] = prompt
    return data


def _multi(match: re.Match) -> dict[str, Any] | None:
    count, value, unit = match.group(1), match.group(2), _unit(match.group(3))
    if not is_valid_weight(value):
        return None
    normalized, normalized_unit = normalize_weight(value, unit)
    if is_extreme_weight(normalized, count):
        return None
    return {
        "text": f"{count} x {value} {unit}",
        "raw": match.group(),
        "value": value,
        "unit": unit,
        "count": count,
        "normalized_value": normalized,
        "normalized_unit": normalized_unit,
        "automatic_processing": not is_suspicious_weight(normalized),
    }


def parse_match(matcher: TextRegex, match: re.Match) -> dict[str, Any] | None:
    """Robotoff's processing of one match: the ``data`` dict (with its ``text``), or None when rejected."""
    kind = matcher.extra["kind"]
    data = _multi(match) if kind == "multi" else _single(match, kind, bool(matcher.extra["automatic"]))
    if data is None:
        return None
    data["matcher_type"] = matcher.name
    data["priority"] = matcher.extra["priority"]
    return data


def run(frame: pl.DataFrame, resources: Resources | None = None) -> pl.DataFrame:
    """Robotoff's ``find_product_weight`` over every row of ``frame``.

    Weights are common in product names (one in six here), so the result columns are filled directly
    rather than through one dict per prediction.
    """
    boxes = WordBoxes(frame) if has_words(frame) else None
    texts = frame["full_text_contiguous"]
    candidates = candidate_rows(texts, MATCHERS)
    rows: list[int] = []
    values: list[str] = []
    automatic: list[bool] = []
    datas: list[str] = []
    # Without boxes a prediction depends on the match alone, and the same few weights recur ("500 g"):
    # each distinct match is validated and serialized once.
    parsed: dict[tuple, tuple[str, bool, str] | None] = {}
    for matcher in MATCHERS:
        for row, match in finditer_rows(texts, matcher, candidates):
            key = (matcher.name, match.group(0), match.groups())
            if boxes is None and key in parsed:
                known = parsed[key]
            else:
                data = parse_match(matcher, match)
                if data is None:
                    known = None
                else:
                    value = data.pop("text")
                    if boxes is not None:
                        with_box(data, boxes.box(row, match.start(), match.end()))
                    known = (value, data["automatic_processing"], orjson.dumps(data).decode())
                if boxes is None:
                    parsed[key] = known
            if known is None:
                continue
            rows.append(row)
            values.append(known[0])
            automatic.append(known[1])
            datas.append(known[2])
    count = len(rows)
    return pl.DataFrame(
        {
            "row": rows,
            "type": [TYPE] * count,
            "value": values,
            "value_tag": [None] * count,
            "data": datas,
            "automatic_processing": automatic,
            "predictor": ["regex"] * count,
            "confidence": [None] * count,
        },
        schema=RESULT_SCHEMA,
    )


PREDICTOR = Predictor(
    type=TYPE,
    name="product_weight",
    predictors=("regex",),
    sources=frozenset({NAME_SOURCE, OCR_SOURCE}),
    reads=("full_text_contiguous", "words"),
    run=run,
)

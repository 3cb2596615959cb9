"""Expiration date predictions (``robotoff/prediction/ocr/expiration_date.py``): ``dd/mm/yy``, ``dd/mm/yyyy``
in the full text.

Separators are ``-``, ``.`` or ``/``, digits may not touch the date on either side, the date must exist
(Python's ``strptime``; two-digit years pivot at 69 as in Python: 00–68 → 2000s) and its year must be in a
window. value = the ISO date, ``data = {raw, type}``, automatic, predictor ``regex``.

One deliberate deviation (docs/predictions.md): Robotoff hard-codes the window to 2015–2025, which stops
every prediction once 2026 labels appear; here the window is the current year −10 to +10, the year taken
from ``today`` (a parameter, so runs and tests are reproducible).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import polars as pl

from pipelines.predictors.base import Predictor, Row, WordBoxes, rows_to_frame, with_box
from pipelines.predictors.regex import TextRegex, candidate_rows, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "expiration_date"
YEARS_AROUND = 10

RULES: tuple[TextRegex, ...] = (
    TextRegex(
        "full_digits_short",
        re.compile(r"(?<!\d)(\d{2})[-./](\d{2})[-./](\d{2})(?!\d)"),
        "full_text",
        {"format": "%d/%m/%y"},
    ),
    TextRegex(
        "full_digits_long",
        re.compile(r"(?<!\d)(\d{2})[-./](\d{2})[-./](\d{4})(?!\d)"),
        "full_text",
        {"format": "%d/%m/%Y"},
    ),
)


def parse_date(match: re.Match, date_format: str) -> dt.date | None:
    day, month, year = match.group(1, 2, 3)
    try:
        return dt.datetime.strptime(f"{day}/{month}/{year}", date_format).date()
    except ValueError:
        return None


def year_window(today: dt.date | None = None) -> tuple[int, int]:
    """Accepted years: Robotoff's fixed 2015–2025 moved to follow the calendar."""
    year = (today or dt.date.today()).year
    return year - YEARS_AROUND, year + YEARS_AROUND


def _rows(frame: pl.DataFrame, today: dt.date | None) -> Iterable[Row]:
    first, last = year_window(today)
    boxes = WordBoxes(frame)
    texts = frame["full_text"]
    rows = candidate_rows(texts, RULES)
    for rule in RULES:
        for row, match in finditer_rows(texts, rule, rows):
            date = parse_date(match, rule.extra["format"])
            if date is None or not first <= date.year <= last:
                continue
            yield {
                "row": row,
                "type": TYPE,
                "value": date.strftime("%Y-%m-%d"),
                "automatic_processing": True,
                "predictor": "regex",
                "data": with_box(
                    {"raw": match.group(0), "type": rule.name}, boxes.box(row, match.start(), match.end())
                ),
            }


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_expiration_date`` over every row of ``frame`` (window: see module docstring)."""
    return rows_to_frame(_rows(frame, resources.today))


PREDICTOR = Predictor(
    type=TYPE,
    name="expiration_date",
    predictors=("regex",),
    sources=frozenset({OCR_SOURCE, NAME_SOURCE}),
    reads=("full_text", "words"),
    run=run,
)

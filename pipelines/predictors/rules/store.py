"""Store predictions (``robotoff/prediction/ocr/store.py``): one alternation of every store of
``store_regex.txt``.

Lines are ``Name`` (the pattern is the escaped lowercase name) or ``Name||regex``; a later line for the same
name replaces the earlier one. Alternatives are ordered longest name first (then by name), each wrapped in
``((?<!\\w)…(?!\\w))``; the whole runs case-insensitively over the contiguous text. For each match, the
first non-empty group names the store by its position — as Robotoff indexes ``match.groups()`` — so a custom
regex with groups of its own would shift the names after it; none of the current lines has one, and the
behaviour is kept as is. value = Name, value_tag = Name lowercased with " & ", " " and "'" made "-",
predictor ``regex``, automatic processing left to the importer (which forces it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import polars as pl

from pipelines.predictors.base import Predictor, Row, WordBoxes, rows_to_frame, with_box
from pipelines.predictors.regex import TextRegex, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "store"


def store_tag(name: str) -> str:
    return name.lower().replace(" & ", "-").replace(" ", "-").replace("'", "-")


def sorted_stores(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(name, regex) pairs, last line per name wins, longest names first."""
    stores: dict[str, str] = {}
    for line in lines:
        if "||" in line:
            name, pattern = line.split("||")
        else:
            name, pattern = line, re.escape(line.lower())
        stores[name] = pattern
    return sorted(stores.items(), key=lambda item: (-len(item[0]), item[0]))


@cache
def _store_regex(lines: tuple[str, ...]) -> tuple[TextRegex, tuple[str, ...]]:
    stores = sorted_stores(lines)
    pattern = "|".join(rf"((?<!\w){regex}(?!\w))" for _, regex in stores)
    return TextRegex(TYPE, re.compile(pattern, re.I), "full_text_contiguous"), tuple(
        name for name, _ in stores
    )


def _rows(frame: pl.DataFrame, resources: Resources) -> Iterable[Row]:
    regex, names = _store_regex(tuple(resources.lines("store_regex.txt")))
    boxes = WordBoxes(frame)
    for row, match in finditer_rows(frame["full_text_contiguous"], regex):
        for index, text in enumerate(match.groups()):
            if text is not None:
                name = names[index]
                yield {
                    "row": row,
                    "type": TYPE,
                    "value": name,
                    "value_tag": store_tag(name),
                    "predictor": "regex",
                    "data": with_box({"text": text}, boxes.box(row, match.start(), match.end())),
                }
                break


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_stores`` over every row of ``frame``."""
    return rows_to_frame(_rows(frame, resources))


PREDICTOR = Predictor(
    type=TYPE,
    name="store",
    predictors=("regex",),
    sources=frozenset({OCR_SOURCE, NAME_SOURCE}),
    reads=("full_text_contiguous", "words"),
    run=run,
    files=(("keywords", "store_regex.txt"),),
)

"""Nutrient mention predictions (``robotoff/prediction/ocr/nutrient.py``): where nutrient words and values
are.

Robotoff uses these to spot nutrition tables (the nutrition-image importer). Per key of
:data:`~pipelines.predictors.rules.nutrient.NUTRIENT_NAMES` (the nine nutrients and ``nutrition_values``
headings), one case-insensitive pattern over the contiguous text: the key's names as named alternatives
between Python ``\\w`` look-arounds. A group's name encodes the languages of its wording (``fr_de_nl_1``),
so a match is credited to the languages of the first named group that took part in it. A last key,
``nutrient_value``, is any number followed by ``g``, ``kj`` or ``kcal``, without languages.

One prediction per image with at least one match:
``data = {"mentions": {key: [{raw, span: [start, end], languages?, bounding_box_absolute?}, …]}}``, keys in
table order, matches in text order; predictor and automatic processing are both None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import polars as pl

from pipelines.predictors.base import Predictor, Row, WordBoxes, rows_to_frame, with_box
from pipelines.predictors.regex import TextRegex, regex_matches
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules.nutrient import NUTRIENT_NAMES, TEXT_FIELD
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "nutrient_mention"
VALUE_KEY = "nutrient_value"


def group_name(languages: tuple[str, ...], index: int) -> str:
    """A named group for the ``index``-th wording: its languages joined by ``_``, then the index."""
    return "_".join((*languages, str(index)))


def group_languages(name: str) -> list[str]:
    """The languages a group name encodes (everything before the trailing index)."""
    return name.rsplit("_", maxsplit=1)[0].split("_")


def mention_regex(key: str) -> TextRegex:
    """Every wording of ``key`` as a named alternative, as whole words."""
    alternatives = "|".join(
        f"(?P<{group_name(languages, index)}>{name})"
        for index, (name, languages) in enumerate(NUTRIENT_NAMES[key])
    )
    return TextRegex(key, re.compile(rf"(?<!\w){alternatives}(?!\w)", re.I), TEXT_FIELD)


MENTION_REGEXES: tuple[TextRegex, ...] = (
    *(mention_regex(key) for key in NUTRIENT_NAMES),
    TextRegex(VALUE_KEY, re.compile(r"(?<!\w)([0-9]+[,.]?[0-9]*) ?(g|kj|kcal)(?!\w)", re.I), TEXT_FIELD),
)


def matched_languages(match: re.Match) -> list[str]:
    """Languages of the first named group (in pattern order) that matched; none if no named group did."""
    for name, text in match.groupdict().items():
        if text is not None:
            return group_languages(name)
    return []


def mention_entry(key: str, match: re.Match, box: list[int] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"raw": match.group(0), "span": [match.start(), match.end()]}
    if key != VALUE_KEY:
        entry["languages"] = matched_languages(match)
    return with_box(entry, box)


def _rows(frame: pl.DataFrame) -> Iterable[Row]:
    boxes = WordBoxes(frame)
    per_image: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for regex, row, match in regex_matches(frame[TEXT_FIELD], MENTION_REGEXES):
        entry = mention_entry(regex.name, match, boxes.box(row, match.start(), match.end()))
        per_image.setdefault(row, {}).setdefault(regex.name, []).append(entry)
    for row in sorted(per_image):
        yield {"row": row, "type": TYPE, "data": {"mentions": per_image[row]}}


def run(frame: pl.DataFrame, resources: Resources | None = None) -> pl.DataFrame:
    """Robotoff's ``find_nutrient_mentions`` over every image of ``frame``: at most one prediction each."""
    return rows_to_frame(_rows(frame))


PREDICTOR = Predictor(
    type=TYPE,
    name="nutrient_mention",
    predictors=(None,),
    sources=frozenset({OCR_SOURCE}),
    reads=(TEXT_FIELD, "words"),
    run=run,
)

"""Category predictions from OCR text (``robotoff/prediction/ocr/category.py``): protected designations of
origin.

French "appellation … contrôlée/protégée", Spanish "denominacion de origen protegida" and the EU acronyms
AOP/DOP/PDO, before or after the name. The captured name, prefixed by its language (``fr:``, ``es:``,
``en:``) and normalized as Robotoff's ``normalize_tag`` does, must be an exact node id of the category
taxonomy (no synonym lookup). value_tag = that id, ``data.text`` = the whole match, predictor ``regex``, not
automatic. The greedy ``.+`` captures make these fire mostly on short texts, as in Robotoff.

The neural category classifier is a different predictor (``docs/category-model.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from pipelines.predictors.base import Predictor, Row, WordBoxes, rows_to_frame, with_box
from pipelines.predictors.regex import TextRegex, candidate_rows, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "category"

_SYMBOLS = re.compile(r"[¢£¤¥§©ª®°²³µ¶¹º¼½¾×‰€™]")
_ENTITIES = re.compile(r"&\w+;")
_SEPARATORS = re.compile(
    r"[\s!\"#\$%&'()*+,\/:;<=>?@\[\\\]^_`{\|}~¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×ˆ˜–—‘’‚“”„†‡•…‰‹›€™\t]"
)
_DASHES = re.compile(r"-+")


def normalize_tag(value: str) -> str:
    """Robotoff's ``normalize_tag``: a few accents folded, punctuation and spaces to ``-``, lowercased."""
    value = _SYMBOLS.sub("-", value)
    value = re.sub(r"[éè]", "e", value)
    value = re.sub(r"[à]", "a", value)
    value = re.sub(r"[ù]", "u", value)
    value = _ENTITIES.sub("-", value)
    value = _SEPARATORS.sub("-", value)
    return _DASHES.sub("-", value.lower()).strip("-")


def _rule(prefix: str, pattern: str) -> TextRegex:
    return TextRegex(prefix, re.compile(pattern, re.I), "full_text_contiguous", {"prefix": prefix})


# In Robotoff's order: per language, two patterns.
RULES: tuple[TextRegex, ...] = (
    _rule("fr:", r"(appellation)\s*(?P<category>.+)\s*(contr[ôo]l[ée]e|prot[ée]g[ée]e)"),
    _rule(
        "fr:",
        r"(?P<category>.+)\s*(appellation d'origine contr[ôo]l[ée]e|appellation d'origine prot[ée]g[ée]e)",
    ),
    _rule("es:", r"(?P<category>.+)(\s*denominacion de origen protegida)"),
    _rule("es:", r"(denominacion de origen protegida\s*)(?P<category>.+)"),
    _rule("en:", r"(?P<category>.+)\s*(aop|dop|pdo)"),
    _rule("en:", r"(aop|dop|pdo)\s*(?P<category>.+)"),
)


def _rows(frame: pl.DataFrame, resources: Resources) -> Iterable[Row]:
    texts = frame["full_text_contiguous"]
    rows = candidate_rows(texts, RULES)
    if rows.len() == 0:
        return
    known = resources.category_ids
    boxes = WordBoxes(frame)
    for rule in RULES:
        for row, match in finditer_rows(texts, rule, rows):
            tag = rule.extra["prefix"] + normalize_tag(match.group("category"))
            if tag not in known:
                continue
            yield {
                "row": row,
                "type": TYPE,
                "value_tag": tag,
                "automatic_processing": False,
                "predictor": "regex",
                "data": with_box({"text": match.group()}, boxes.box(row, match.start(), match.end())),
            }


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_category`` over every row of ``frame``."""
    return rows_to_frame(_rows(frame, resources))


PREDICTOR = Predictor(
    type=TYPE,
    name="category_aoc",
    predictors=("regex",),
    sources=frozenset({OCR_SOURCE}),
    reads=("full_text_contiguous", "words"),
    run=run,
    files=(("taxonomies", "categories.*"),),
)

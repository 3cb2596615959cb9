"""Packaging predictions (``robotoff/prediction/ocr/packaging.py``): Robotoff's French Lark grammar over OCR
texts.

Robotoff lowercases the default OCR text (contiguous text, falling back to ``textAnnotations[0]``), folds it
to ASCII with the SDK's table (a non-ASCII text loses every character the table does not map, ``\\x7f``
included; an ASCII text is left as it is), collapses runs of spaces and parses it with
``grammars/packaging_fr.lark`` (Earley parser). Each ``packaging`` subtree is one element: a shape, up to
two materials (the last one wins: "plastique PET" → PET) and a recycling instruction ("à recycler"), each
``{value, value_tag}`` with the tag looked up in the terminal's ``_map.json``. Elements with no shape, and
shape-only elements whose shape is too vague to predict alone (``SHAPE_ONLY_EXCLUDED``), are dropped.

Every element found becomes a prediction, duplicates included (Robotoff's ``value`` string, the Python
``str()`` of ``{'shape', 'material', 'recycling'}`` tags, is what tells them apart in the store). There is no
bounding box: Robotoff does not compute one for packaging.

Earley parsing is slow on long texts, so only texts whose normalized form contains a shape terminal are
parsed: the normalization is also done vectorized (``normalized_texts``), and one regex pass with the
grammar's own shape terminal keeps the rows where a shape can be lexed. A parse that fails (a character
neither ``WS`` nor ``OTHER`` accepts, such as ``\\x0b``; a matched material with no map entry, such as
``81 c``) makes Robotoff's whole image job fail; here only that text gets no packaging prediction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import polars as pl
from lark import Token, Tree
from lark.exceptions import LarkError
from openfoodfacts.utils.fold_to_ascii import translate_table

from pipelines.predictors.base import Predictor, Row, rows_to_frame
from pipelines.predictors.resources import (
    LANG,
    PROPERTIES,
    PackagingGrammar,
    Resources,
    UnmappedTerminalError,
)
from pipelines.predictors.texts import OCR_SOURCE

logger = logging.getLogger(__name__)

TYPE = "packaging"
# Grammar terminal → element property.
TERMINALS = {
    "PACKAGING_SHAPES": "shape",
    "PACKAGING_MATERIALS": "material",
    "PACKAGING_RECYCLING": "recycling",
}

# Shapes Robotoff does not predict without a material or a recycling instruction: alone they are mostly
# false positives ("coque" in "fruits à coque", "pack", "feuilles"…). None stands for an unmapped shape.
SHAPE_ONLY_EXCLUDED: frozenset[str | None] = frozenset(
    {
        "en:tray",
        "en:packaging",
        "en:backing",
        "en:packet",
        "en:string",
        "en:bowl",
        "en:sheet",
        "en:net",
        "en:pouch-flask",
        "en:spoon",
        "en:tablespoon",
        "en:mold",
        "en:cutlery",
        "en:overpack",
        "en:plate",
        "en:basket",
        "en:wedge",
        None,
    }
)

Element = dict[str, dict[str, str]]


class _Fold(dict[int, str]):
    """The SDK's ASCII folding table for ``str.translate``: unmapped code points are deleted.

    Built once: the SDK rebuilds its 1,369-entry dict on every call.
    """

    def __missing__(self, key: int) -> None:
        return None


_FOLD = _Fold(translate_table)
# Non-ASCII entries of the table, for the vectorized fold (ASCII characters map to themselves).
_FOLD_KEYS = [chr(code) for code, _ in translate_table if code > 0x7F]
_FOLD_VALUES = [text for code, text in translate_table if code > 0x7F]
_SPACES = re.compile(" {2,}")


def normalize(text: str) -> str:
    """Robotoff's packaging text: lowercased, folded to ASCII, runs of spaces collapsed."""
    lowered = text.lower()
    if not lowered.isascii():
        lowered = lowered.translate(_FOLD)
    return _SPACES.sub(" ", lowered)


def normalized_texts(texts: pl.Series) -> pl.Series:
    """``normalize`` over a whole column, vectorized.

    Equal to ``normalize`` text by text: lowercasing and folding are per-character maps (Rust and Python
    agree on every code point, final sigma included; the tests check all of them), the fold applies only
    to texts still non-ASCII once lowercased, and it deletes what the table does not map (``\\x7f`` too).
    """
    lowered = texts.fill_null("").str.to_lowercase()
    folded = lowered.str.replace_many(_FOLD_KEYS, _FOLD_VALUES).str.replace_all(r"[^\x00-\x7E]", "")
    non_ascii = lowered.str.contains(r"[^\x00-\x7F]")
    result = pl.select(pl.when(non_ascii).then(folded).otherwise(lowered)).to_series()
    return result.str.replace_all(" {2,}", " ").alias(texts.name)


def _element(packaging: Tree, grammar: PackagingGrammar) -> Element:
    """One ``packaging`` subtree → ``{shape, material?, recycling?}``.

    Tokens come in text order (shape, materials, recycling): a second material replaces the first but keeps
    its place among the keys, as Robotoff's dict merges do. Every token is mapped, the dropped material too,
    so an unmapped one fails the text as in Robotoff.
    """
    element: Element = {}
    for token in packaging.scan_values(lambda v: isinstance(v, Token) and v.type in TERMINALS):
        prop = TERMINALS[token.type]
        element[prop] = {"value": str(token), "value_tag": grammar.tag(prop, str(token))}
    return element


def parse_elements(text: str, grammar: PackagingGrammar) -> list[Element]:
    """Every packaging element of a raw text, in text order (raises on parse or map failures)."""
    normalized = normalize(text)
    if not normalized:  # Robotoff does not parse an empty text (the grammar needs one token)
        return []
    tree = grammar.parser.parse(normalized)
    return [
        _element(child, grammar)
        for child in tree.children
        if isinstance(child, Tree) and child.data == "packaging"
    ]


def is_predicted(element: Element) -> bool:
    """A shape is needed; an excluded shape also needs a material or a recycling instruction."""
    if "shape" not in element:
        return False
    alone = not (element.get("material") or element.get("recycling"))
    return not (alone and element["shape"]["value_tag"] in SHAPE_ONLY_EXCLUDED)


def prediction_value(element: Element) -> str:
    """Robotoff's ``value``: ``str()`` of the three tags (None when absent), the prediction's identity."""
    return str({prop: element.get(prop, {}).get("value_tag") for prop in PROPERTIES})


def candidate_rows(texts: pl.Series, grammar: PackagingGrammar) -> pl.Series:
    """Rows whose normalized text contains a shape terminal: the only ones that can yield a prediction."""
    return normalized_texts(texts).str.contains(grammar.shape_pattern).arg_true()


def _rows(texts: pl.Series, rows: pl.Series, grammar: PackagingGrammar) -> Iterable[Row]:
    failed: list[int] = []
    for row, text in zip(rows.to_list(), texts.gather(rows).to_list(), strict=True):
        try:
            elements = parse_elements(text, grammar)
        except (LarkError, UnmappedTerminalError):
            failed.append(row)
            continue
        for element in filter(is_predicted, elements):
            yield {
                "row": row,
                "type": TYPE,
                "value": prediction_value(element),
                "value_tag": None,
                "data": {"lang": LANG, "element": element},
                "automatic_processing": False,
                "predictor": "grammar",
            }
    if failed:
        logger.warning(
            "packaging: %d text(s) the grammar cannot parse or map, no packaging prediction for them "
            "(Robotoff fails the whole image); first row %d",
            len(failed),
            failed[0],
        )


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_packaging`` over every row of ``frame``."""
    grammar = resources.packaging_grammar
    texts = frame["text"]
    return rows_to_frame(_rows(texts, candidate_rows(texts, grammar), grammar))


PREDICTOR = Predictor(
    type=TYPE,
    name="packaging",
    predictors=("grammar",),
    sources=frozenset({OCR_SOURCE}),
    reads=("text",),
    run=run,
    files=(("grammars", "**/*"),),
)

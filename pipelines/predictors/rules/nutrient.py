"""Nutrient value predictions (``robotoff/prediction/ocr/nutrient.py``): "<nutrient name> <number> <unit>" in
the OCR text.

For each of nine nutrients, one pattern made of the nutrient's names in every language Robotoff knows, an
optional ``:``/``-`` separator, a number and one of the nutrient's units, delimited by Python ``\\w``
look-arounds, case-insensitive, over the contiguous text. Every match of every nutrient of an image goes into
one prediction of that image: ``data = {"nutrients": {nutrient: [{raw, nutrient, value, unit}, …]}}``,
nutrients in the table's order, matches in text order; the value has ``,`` turned into ``.``, the unit is
kept as written. No bounding box, predictor ``regex``, no automatic processing.

The names table (:data:`NUTRIENT_NAMES`) is shared with ``nutrient_mention``, which reuses the same words
to locate nutrition tables. Both read their matches through ``regex.regex_matches``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import polars as pl

from pipelines.predictors.base import Predictor, Row, rows_to_frame
from pipelines.predictors.regex import TextRegex, regex_matches
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "nutrient"
TEXT_FIELD = "full_text_contiguous"

# Each nutrient's names as Robotoff lists them: (regex fragment, languages of that wording). The order of
# nutrients and of names is significant: it fixes the order of the data keys and which alternative (so which
# languages) a mention is credited to. ``nutrition_values`` (table headings) is only used by mentions.
NUTRIENT_NAMES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "energy": (
        ("énergie", ("fr",)),
        ("energie", ("fr", "de", "nl")),
        ("valeurs? [ée]nerg[ée]tiques?", ("fr",)),
        ("energy", ("en",)),
        ("calories", ("fr", "en")),
        ("energia", ("es", "it", "pt", "hu")),
        ("valor energ[ée]tico", ("es",)),
        ("energi", ("da",)),
    ),
    "saturated_fat": (
        ("mati[èe]res? grasses? satur[ée]s?", ("fr",)),
        ("acides? gras satur[ée]s?", ("fr",)),
        ("dont satur[ée]s?", ("fr",)),
        ("acidi grassi saturi", ("it",)),
        ("saturated fat", ("en",)),
        ("of which saturates", ("en",)),
        ("verzadigde vetzuren", ("nl",)),
        ("waarvan verzadigde", ("nl",)),
        ("gesättigte fettsäuren", ("de",)),
        ("[aá]cidos grasos saturados", ("es",)),
        ("dos quais saturados", ("pt",)),
        ("mættede fedtsyrer", ("da",)),
        ("amelyb[őö]l? telített zs[íi]rsavak", ("hu",)),
    ),
    "trans_fat": (
        ("mati[èe]res? grasses? trans", ("fr",)),
        ("trans fat", ("en",)),
    ),
    "fat": (
        ("mati[èe]res? grasses?", ("fr",)),
        ("graisses?", ("fr",)),
        ("lipides?", ("fr",)),
        ("total fat", ("en",)),
        ("vetten", ("nl",)),
        ("fett", ("de",)),
        ("grasas", ("es",)),
        ("grassi", ("it",)),
        ("l[íi]pidos", ("es", "pt")),
        ("fedt", ("da",)),
        ("zs[íi]r", ("hu",)),
    ),
    "sugar": (
        ("sucres?", ("fr",)),
        ("sugars?", ("en",)),
        ("zuccheri", ("it",)),
        ("suikers?", ("nl",)),
        ("zucker", ("de",)),
        ("az[úu]cares", ("es",)),
        ("sukkerarter", ("da",)),
        ("amelyb[őö]l? cukrok", ("hu",)),
    ),
    "carbohydrate": (
        ("total carbohydrate", ("en",)),
        ("glucids?", ("fr",)),
        ("glucides?", ("en",)),
        ("carboidrati", ("it",)),
        ("koolhydraten", ("nl",)),
        ("koolhydraat", ("nl",)),
        ("kohlenhydrate", ("de",)),
        ("hidratos de carbono", ("es", "pt")),
        ("kulhydrat", ("da",)),
        ("szénhidrát", ("hu",)),
    ),
    "protein": (
        ("prot[ée]ines?", ("fr",)),
        ("protein", ("en", "da")),
        ("eiwitten", ("nl",)),
        ("eiweiß", ("de",)),
        ("prote[íi]nas", ("es", "pt")),
        ("fehérje", ("hu",)),
    ),
    "salt": (
        ("sel", ("fr",)),
        ("salt", ("en", "da")),
        ("zout", ("nl",)),
        ("salz", ("de",)),
        ("sale", ("it",)),
        ("sal", ("es", "pt")),
        ("só", ("hu",)),
    ),
    "fiber": (
        ("fibres?", ("en", "fr", "it")),
        ("(?:dietary )?fibers?", ("en",)),
        ("fibres? alimentaires?", ("fr",)),
        ("(?:voedings)?vezels?", ("nl",)),
        ("ballaststoffe", ("de",)),
        ("fibra(?: alimentaria)?", ("es",)),
        ("kostfibre", ("da",)),
        ("rost", ("hu",)),
    ),
    "nutrition_values": (
        ("informations? nutritionnelles?(?: moyennes?)?", ("fr",)),
        ("valeurs? nutritionnelles?(?: moyennes?)?", ("fr",)),
        ("analyse moyenne pour", ("fr",)),
        ("valeurs? nutritives?", ("fr",)),
        ("valeurs? moyennes?", ("fr",)),
        ("nutrition facts?", ("en",)),
        ("average nutritional values?", ("en",)),
        ("valori nutrizionali medi", ("it",)),
        ("gemiddelde waarden per", ("nl",)),
        ("nutritionele informatie", ("nl",)),
        ("(er)?næringsindhold", ("da",)),
        ("átlagos tápérték(?:tartalom)?", ("hu",)),
        ("tápérték adatok", ("hu",)),
    ),
}

# The units a value of each nutrient may carry (the nutrients with a value pattern, in data order).
NUTRIENT_UNITS: dict[str, tuple[str, ...]] = {
    "energy": ("kj", "kcal"),
    "saturated_fat": ("g",),
    "trans_fat": ("g",),
    "fat": ("g",),
    "sugar": ("g",),
    "carbohydrate": ("g",),
    "protein": ("g",),
    "salt": ("g", "mg"),
    "fiber": ("g",),
}


def value_regex(nutrient: str) -> TextRegex:
    """Names of ``nutrient`` (group 1), optional separator, number (group 2), unit (group 3)."""
    names = "|".join(name for name, _ in NUTRIENT_NAMES[nutrient])
    units = "|".join(NUTRIENT_UNITS[nutrient])
    pattern = rf"(?<!\w)({names}) ?(?:[:-] ?)?([0-9]+[,.]?[0-9]*) ?({units})(?!\w)"
    return TextRegex(nutrient, re.compile(pattern, re.I), TEXT_FIELD)


VALUE_REGEXES: tuple[TextRegex, ...] = tuple(value_regex(nutrient) for nutrient in NUTRIENT_UNITS)


def value_entry(nutrient: str, match: re.Match) -> dict[str, Any]:
    """One nutrient value as Robotoff stores it: the raw match, decimal point normalized, unit as written."""
    return {
        "raw": match.group(0),
        "nutrient": nutrient,
        "value": match.group(2).replace(",", "."),
        "unit": match.group(3),
    }


def _rows(frame: pl.DataFrame) -> Iterable[Row]:
    per_image: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for regex, row, match in regex_matches(frame[TEXT_FIELD], VALUE_REGEXES):
        per_image.setdefault(row, {}).setdefault(regex.name, []).append(value_entry(regex.name, match))
    for row in sorted(per_image):
        yield {"row": row, "type": TYPE, "predictor": "regex", "data": {"nutrients": per_image[row]}}


def run(frame: pl.DataFrame, resources: Resources | None = None) -> pl.DataFrame:
    """Robotoff's ``find_nutrient_values`` over every image of ``frame``: at most one prediction each."""
    return rows_to_frame(_rows(frame))


PREDICTOR = Predictor(
    type=TYPE,
    name="nutrient",
    predictors=("regex",),
    sources=frozenset({OCR_SOURCE}),
    reads=(TEXT_FIELD,),
    run=run,
)

"""Label predictions (``robotoff/prediction/ocr/label.py``): a regex table, a keyword list, and (OCR only)
Cloud Vision logos.

1. Regex rules, predictor ``regex``, ``automatic_processing`` left to the importer (None); ``data.text`` is
   the matched string. Two rules compute the tag from the match (EU and Spanish organic-operator codes).
2. ``label_flashtext.txt`` (``tag||phrase``) with flashtext semantics, predictor ``flashtext``.
3. OCR only: a logo annotation whose description is in ``label_logo_annotation.txt`` gives its tag,
   predictor ``google-cloud-vision``, not automatic, confidence = logo score.

The patterns below are Robotoff's (release 1.85.10, ``robotoff/prediction/ocr/label.py``), kept verbatim
because the predictions must be the same; the field each reads matters only for OCR texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from pipelines.predictors.base import (
    Predictor,
    Row,
    WordBoxes,
    empty_result,
    logo_annotations,
    match_text_data,
    result_columns,
    rows_to_frame,
    with_box,
)
from pipelines.predictors.keywords import lower_text, match_keywords
from pipelines.predictors.regex import TextRegex, candidate_rows, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "label"
FULL = "full_text"
CONTIGUOUS = "full_text_contiguous"

_ORGANIC = "|".join(
    f"(?:{p})"
    for p in (
        r"ingr[ée]dients?\sbiologiques?",
        r"ingr[ée]dients?\sbio[\s.,)]",
        r"agriculture ue/non ue biologique",
        r"agriculture bio(?:logique)?[\s.,)]",
        r"production bio(?:logique)?[\s.,)]",
    )
)


def _eu_organic_code(match: re.Match) -> str | None:
    """``FR-BIO-01`` → ``en:fr-bio-01``; German codes need three digits."""
    country = match.group(1).lower()
    code = match.group(2).replace("ö", "o").replace("ø", "o").lower()
    number = match.group(3).lower()
    if country == "de" and len(number) != 3:
        return None
    return f"en:{country}-{code}-{number}"


def _es_organic_code(match: re.Match) -> str:
    return f"en:es-eco-{match.group(1)}-{match.group(2)}".lower()


def _rule(tag: str, pattern: str, flags: int, text_field: str, compute=None) -> TextRegex:
    return TextRegex(tag, re.compile(pattern, flags), text_field, {"compute": compute})


# (tag, rules) in Robotoff's order.
LABEL_REGEXES: tuple[TextRegex, ...] = (
    _rule("en:organic", _ORGANIC, re.I, CONTIGUOUS),
    _rule(
        "xx-bio-xx",
        r"(?<![a-zA-Z])([A-Z]{2})[\-\s.](BIO|ÖKO|OKO|EKO|ØKO|ORG|Bio)[\-\s.](\d{2,3})",
        0,
        FULL,
        _eu_organic_code,
    ),
    _rule(
        "xx-bio-xx", r"(?<![a-zA-Z])ES[\-\s.]ECO[\-\s.](\d{3})[\-\s.]([A-Z]{2,3})", 0, FULL, _es_organic_code
    ),
    _rule("fr:ab-agriculture-biologique", r"certifi[ée] ab[\s.,)]", re.I, CONTIGUOUS),
    _rule("fr:label-rouge", r"(?<!\w)homologation(?: n°?)? ?la ?\d{2}\/\d{2}(?!\w)", re.I, CONTIGUOUS),
    _rule("fr:aoc", r"(?<!\w)(?:AOC)(?!\w)", 0, CONTIGUOUS),
    _rule("en:nutriscore", r"NUTRI-SCORE", 0, FULL),
    _rule(
        "en:eu-non-eu-agriculture",
        r"agriculture ue\s?/\s?non\s?(?:-\s?)?ue|eu\s?/\s?non\s?(?:-\s?)?eu agriculture",
        re.I,
        CONTIGUOUS,
    ),
    _rule("en:eu-agriculture", r"agriculture ue(?!\s?/)|(?<!-)\s?eu agriculture", re.I, CONTIGUOUS),
    _rule(
        "en:non-eu-agriculture",
        r"agriculture non\s?(?:-\s?)?ue|non\s?(?:-\s?)?eu agriculture",
        re.I,
        CONTIGUOUS,
    ),
    _rule(
        "en:no-preservatives",
        r"senza conservanti(?! arti)|без консервантов|conserveermiddelvrij"
        r"|(?<!\w)(?:sans|ni) conservateur(?!s? arti)|fără conservanți|no preservative"
        r"|sin conservante(?!s? arti)|ohne konservierungsstoffe",
        re.I,
        CONTIGUOUS,
    ),
    _rule(
        "en:no-flavors",
        r"без ароматизаторов|senza aromi|zonder toegevoegde smaakstoffen"
        r"|(?<!\w)(?:sans|ni) ar[ôo]mes? ajout[ée]s|sin aromas?|ohne zusatz von aromen|no flavors?",
        re.I,
        CONTIGUOUS,
    ),
    _rule(
        "en:no-artificial-flavors",
        r"без искусственных ароматизаторов|ohne künstliche aromen|sin aromas? artificiales?"
        r"|vrij van kunstmatige smaakstoffen|(?<!\w)(?:sans|ni) ar[ôo]mes? artificiels?"
        r"|no artificial flavors?",
        re.I,
        CONTIGUOUS,
    ),
    _rule(
        "en:no-colorings",
        r"no colorings?|no colourants?|ohne farbstoffzusatz|(?<!\w)(?:sans|ni) colorants?|zonder kleurstoffen"
        r"|sin colorantes?|без красителей|senza coloranti",
        re.I,
        CONTIGUOUS,
    ),
    _rule(
        "en:no-additives",
        r"zonder toevoegingen|sin aditivos(?! arti)|(?<!\w)(?:sans|ni) additif(?!s? arti)"
        r"|ohne zusätze|no additives?",
        re.I,
        CONTIGUOUS,
    ),
)


def _regex_rows(frame: pl.DataFrame, boxes: WordBoxes) -> Iterable[Row]:
    for text_field in (FULL, CONTIGUOUS):
        rules = [r for r in LABEL_REGEXES if r.text_field == text_field]
        texts = frame[text_field]
        rows = candidate_rows(texts, rules)
        for rule in rules:
            compute = rule.extra["compute"]
            for row, match in finditer_rows(texts, rule, rows):
                tag = compute(match) if compute else rule.name
                if tag is None:
                    continue
                data = with_box({"text": match.group()}, boxes.box(row, match.start(), match.end()))
                yield {"row": row, "type": TYPE, "value_tag": tag, "predictor": "regex", "data": data}


def _flashtext(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    keywords = resources.label_keywords
    matches = match_keywords(frame["text"], {"label": keywords}, lower_text(frame))
    if matches.height == 0:
        return empty_result()
    tags = keywords.frame().select("keyword", value_tag="key")
    matches = matches.join(tags, on="keyword", how="left", maintain_order="left")
    data = match_text_data(frame, matches)
    return matches.select(result_columns(TYPE, data, value_tag=pl.col("value_tag"), predictor="flashtext"))


def _logo_rows(frame: pl.DataFrame, resources: Resources) -> Iterable[Row]:
    if "logos" not in frame.columns:
        return
    known = resources.label_logos
    for row, description, score in logo_annotations(frame).iter_rows():
        if description in known:
            yield {
                "row": row,
                "type": TYPE,
                "value_tag": known[description],
                "automatic_processing": False,
                "predictor": "google-cloud-vision",
                "confidence": score,
                "data": {},
            }


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_labels`` over every row of ``frame``."""
    boxes = WordBoxes(frame)
    return pl.concat(
        [
            rows_to_frame(_regex_rows(frame, boxes)),
            _flashtext(frame, resources),
            rows_to_frame(_logo_rows(frame, resources)),
        ]
    )


PREDICTOR = Predictor(
    type=TYPE,
    name="label",
    predictors=("regex", "flashtext", "google-cloud-vision"),
    sources=frozenset({NAME_SOURCE, OCR_SOURCE}),
    reads=("full_text", "full_text_contiguous", "text", "words", "logos"),
    run=run,
    files=(("keywords", "label_flashtext.txt"), ("keywords", "label_logo_annotation.txt")),
)

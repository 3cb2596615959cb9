"""Packager code predictions (``robotoff/prediction/ocr/packager_code.py``): health-mark regexes and
fishing-area codes.

Regex rules (Robotoff leaves their predictor unset): French ``EMB`` codes and FSC numbers on the full text;
EU French and German health marks, RSPO and French gluten-free codes on the contiguous text. Each gives a
normalized value and ``data = {raw, type}``. Fishing codes come from ``fishing_flashtext.txt`` (one code per
line) with flashtext semantics: value = the code uppercased, predictor ``flashtext``. All automatic.
Robotoff's USDA rules are disabled upstream and are not run here either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import polars as pl

from pipelines.predictors.base import (
    Predictor,
    Row,
    WordBoxes,
    empty_result,
    match_text_data,
    result_columns,
    rows_to_frame,
    with_box,
)
from pipelines.predictors.keywords import lower_text, match_keywords
from pipelines.predictors.regex import TextRegex, candidate_rows, finditer_rows
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import NAME_SOURCE, OCR_SOURCE

TYPE = "packager_code"


def _fr_emb(match: re.Match) -> str:
    city, company = match.group(1, 2)
    return f"EMB {city.replace(' ', '')}{company or ''}".upper()


def _fsc(match: re.Match) -> str:
    return f"FSC-{match.group(1)}".upper()


def _eu_fr(match: re.Match) -> str:
    return "FR {}.{}.{} EC".format(*match.group(1, 2, 3)).upper()


def _eu_de(match: re.Match) -> str:
    state, company = match.group(1, 2)
    return f"DE {state}-{company} EC".upper()


def _rule(name: str, pattern: str, flags: int, text_field: str, compute: Callable | None) -> TextRegex:
    return TextRegex(name, re.compile(pattern, flags), text_field, {"compute": compute})


# In Robotoff's order.
RULES: tuple[TextRegex, ...] = (
    _rule("fr_emb", r"emb ?(\d ?\d ?\d ?\d ?\d) ?([a-z])?(?![a-z0-9])", re.I, "full_text", _fr_emb),
    _rule("fsc", r"fsc.? ?(c\d{6})", re.I, "full_text", _fsc),
    _rule(
        "eu_fr",
        r"fr (\d{2,3}|2[ab])[\-\s.](\d{3})[\-\s.](\d{3}) (ce|ec)(?![a-z0-9])",
        re.I,
        "full_text_contiguous",
        _eu_fr,
    ),
    _rule(
        "eu_de",
        r"de (bb|be|bw|by|hb|he|hh|mv|ni|nw|rp|sh|sl|sn|st|th)[\-\s.](\d{1,5})[\-\s.] ?(eg|ec)(?![a-z0-9])",
        re.I,
        "full_text_contiguous",
        _eu_de,
    ),
    _rule("rspo", r"(?<!\w)RSPO-\d{7}(?!\d)", 0, "full_text_contiguous", None),
    _rule("fr_gluten", r"FR-\d{3}-\d{3}", 0, "full_text_contiguous", None),
)


def _regex_rows(frame: pl.DataFrame) -> Iterable[Row]:
    boxes = WordBoxes(frame)
    candidates = {
        f: candidate_rows(frame[f], [r for r in RULES if r.text_field == f])
        for f in ("full_text", "full_text_contiguous")
    }
    for rule in RULES:
        compute = rule.extra["compute"]
        for row, match in finditer_rows(frame[rule.text_field], rule, candidates[rule.text_field]):
            value = compute(match) if compute else match.group(0)
            if value is None:
                continue
            data = with_box(
                {"raw": match.group(0), "type": rule.name}, boxes.box(row, match.start(), match.end())
            )
            yield {"row": row, "type": TYPE, "value": value, "automatic_processing": True, "data": data}


def _fishing(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    keywords = resources.fishing_codes
    matches = match_keywords(frame["text"], {"fishing": keywords}, lower_text(frame))
    if matches.height == 0:
        return empty_result()
    matches = matches.join(keywords.frame(), on="keyword", how="left", maintain_order="left")
    raw = match_text_data(frame, matches)  # {"text": …[, box]} → {"type": "fishing", "raw": …[, box]}
    data = raw.str.replace(r'^\{"text":', '{"type":"fishing","raw":')
    return matches.select(
        result_columns(TYPE, data, value=pl.col("key"), automatic_processing=True, predictor="flashtext")
    )


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``find_packager_codes`` over every row of ``frame``."""
    return pl.concat([rows_to_frame(_regex_rows(frame)), _fishing(frame, resources)])


PREDICTOR = Predictor(
    type=TYPE,
    name="packager_code",
    predictors=(None, "flashtext"),
    sources=frozenset({OCR_SOURCE, NAME_SOURCE}),
    reads=("full_text", "full_text_contiguous", "text", "words"),
    run=run,
    files=(("keywords", "fishing_flashtext.txt"),),
)

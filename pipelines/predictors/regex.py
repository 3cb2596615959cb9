"""Python regular expressions over a column of texts: a vectorized prefilter, then Python ``re`` exactly.

Robotoff's rules are Python ``re`` patterns with look-arounds and Unicode ``\\w``/``\\s``
(``robotoff/prediction/ocr/``). Polars' Rust engine has no look-arounds and slightly different ``\\w``/``\\s``
classes, so it cannot run them as they are. It can run a *superset* of each: the pattern with its look-arounds
removed (a look-around only ever rejects matches) and with ``\\w``/``\\s`` widened to cover Python's classes.
Rows the superset does not match cannot match the real pattern; the real pattern then runs with Python's
``re`` on the few rows left, which keeps Robotoff's semantics to the letter. Tests check the superset property
on real and random texts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property

import polars as pl

logger = logging.getLogger(__name__)

# Python's \s also matches the information separators \x1c-\x1f, which Rust's \s (White_Space) does not.
_SPACE_IN_CLASS = r"\s\x1c-\x1f"
# Python's \w is str.isalnum() or "_": it includes numeric characters (\p{N}) that Rust's \w lacks.
_WORD_IN_CLASS = r"\w\p{N}"
_LOOKAROUND_OPENERS = ("(?=", "(?!", "(?<=", "(?<!")
_UNSUPPORTED_ESCAPES = set("WSDbBAZ")
_TURKISH_I = "ıİ"


def _group_end(pattern: str, start: int) -> int:
    """Index just past the group opened at ``pattern[start]`` (escapes and classes skipped)."""
    depth = 0
    index = start
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    raise ValueError(f"unbalanced group in {pattern!r}")


def superset_pattern(pattern: str, flags: int = 0) -> str | None:
    """A Rust-regex pattern matching at least every text ``re.compile(pattern, flags)`` matches, or None.

    None means no safe superset was found (an escape whose widening is not obvious, such as ``\\W`` or
    ``\\b``): the rule then runs on every row. Case-insensitive patterns also get the Turkish ``ı``/``İ``
    wherever an ``i`` may match: Python's ``re.I`` equates them with ``i``, Rust's ``(?i)`` does not (the
    only difference between the two foldings for the letters of Robotoff's patterns).
    """
    ignore_case = bool(flags & re.IGNORECASE)
    out: list[str] = []
    index = 0
    in_class = widen_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escape = pattern[index + 1 : index + 2]
            if escape in _UNSUPPORTED_ESCAPES:
                return None
            if escape == "s":
                out.append(_SPACE_IN_CLASS if in_class else f"[{_SPACE_IN_CLASS}]")
            elif escape == "w":
                out.append(_WORD_IN_CLASS if in_class else f"[{_WORD_IN_CLASS}]")
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
                if widen_class:  # before a trailing literal "-", which must stay last
                    out.insert(len(out) - 1 if out[-1] == "-" else len(out), _TURKISH_I)
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            index += 1
            widen_class = ignore_case and pattern[index : index + 1] != "^"
            for literal in ("^", "]"):
                if pattern[index : index + 1] == literal:
                    out.append(literal)
                    index += 1
            continue
        if pattern.startswith(_LOOKAROUND_OPENERS, index):
            index = _group_end(pattern, index)
            continue
        if pattern.startswith("(?P<", index):  # names do not matter to a filter and may repeat once combined
            out.append("(?:")
            index = pattern.index(">", index) + 1
            continue
        out.append(f"[iI{_TURKISH_I}]" if ignore_case and char in "iI" else char)
        index += 1
    body = "".join(out)
    if not body or flags & re.VERBOSE:
        return None
    candidate = ("(?i)" if ignore_case else "") + body
    try:
        pl.Series([""]).str.contains(candidate)
    except Exception:  # the Rust engine rejects some Python syntax: run this rule on every row
        logger.debug("no vectorized prefilter for %r", pattern)
        return None
    return candidate


# Prefilters (supersets: skipping them changes no match) pay off on many rows; on a few (the listener's
# products) compiling them costs more than running Python's ``re`` on every row.
PREFILTER_MIN_ROWS = 16


@dataclass(frozen=True)
class TextRegex:
    """A Python pattern and the text field it reads (``full_text`` or ``full_text_contiguous``)."""

    name: str
    pattern: re.Pattern[str]
    text_field: str = "full_text_contiguous"
    extra: dict = dataclass_field(default_factory=dict, compare=False)

    @cached_property
    def prefilter(self) -> str | None:
        return superset_pattern(self.pattern.pattern, self.pattern.flags)


def candidate_rows(texts: pl.Series, regexes: Sequence[TextRegex]) -> pl.Series:
    """Indices of the rows where at least one regex may match (one combined vectorized pass)."""
    prefilters = [r.prefilter for r in regexes]
    usable = texts.fill_null("")
    if any(p is None for p in prefilters) or usable.len() <= PREFILTER_MIN_ROWS:
        return (usable.str.len_bytes() > 0).arg_true()
    combined = "|".join(f"(?:{p})" for p in prefilters)
    try:
        return usable.str.contains(combined).arg_true()
    except pl.exceptions.ComputeError:  # too big or odd once combined: one pass per rule
        hits = pl.Series([False] * usable.len())
        for prefilter in prefilters:
            hits = hits | usable.str.contains(prefilter)
        return hits.arg_true()


def finditer_rows(
    texts: pl.Series, regex: TextRegex, rows: pl.Series | None = None
) -> Iterator[tuple[int, re.Match]]:
    """``(row, match)`` for every Python match of ``regex`` in ``texts`` (restricted to ``rows`` if given)."""
    if texts.len() <= PREFILTER_MIN_ROWS:  # a few rows: plain Python, no Series operations
        values = texts.to_list()
        ids = rows.to_list() if rows is not None else range(len(values))
        pairs: Iterable[tuple[int, str | None]] = [(i, values[i]) for i in ids]
    else:
        subset = texts if rows is None else texts.gather(rows)
        row_ids = pl.Series(range(texts.len())) if rows is None else rows
        if regex.prefilter is not None:
            keep = subset.fill_null("").str.contains(regex.prefilter)
            subset, row_ids = subset.filter(keep), row_ids.filter(keep)
        pairs = zip(row_ids.to_list(), subset.to_list(), strict=True)
    for row, text in pairs:
        if not text:
            continue
        for match in regex.pattern.finditer(text):
            yield row, match


def regex_matches(
    texts: pl.Series, regexes: Sequence[TextRegex]
) -> Iterator[tuple[TextRegex, int, re.Match]]:
    """``(regex, row, match)`` of every Python match, regex by regex (in ``regexes`` order), rows in order.

    One combined vectorized pass keeps the rows where any pattern may match; each pattern's own prefilter
    narrows those before Python ``re`` runs, so the matches are exactly Python's.
    """
    rows = candidate_rows(texts, regexes)
    if rows.len() == 0:
        return
    for regex in regexes:
        for row, match in finditer_rows(texts, regex, rows):
            yield regex, row, match

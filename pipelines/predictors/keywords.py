"""Keyword matching with Robotoff's flashtext semantics, over a whole column of texts at once.

Robotoff walks a character trie over one text at a time (``robotoff/utils/text/flashtext.py``). What that
walk finds, stated as a rule (checked against a literal simulation in the tests):

- texts and keywords are compared lowercased (Python ``str.lower``);
- word characters are ASCII ``[A-Za-z0-9_]`` only; anything else, accented letters included, is a boundary;
- a match starts at the text start or right after a boundary character, and ends at the text end or right
  before a boundary character;
- scanning left to right, the longest keyword at the leftmost start wins; the boundary character that ends
  a match is consumed, so the next match starts strictly after it.

Here the candidate occurrences of every keyword of every list in every text come from one Aho-Corasick
pass (Polars' ``find_many``/``extract_many``: all overlapping occurrences, character offsets since Polars 2.2,
byte offsets before — hence the floor in ``pyproject.toml``). The boundary rules are checks on the character
before and after each occurrence. The leftmost-longest, non-overlapping choice keeps the longest occurrence
per start and then every occurrence that starts after all earlier ones ended; only the rare texts where
occurrences overlap go through a small Python scan. Offsets in the lowercased text become offsets in the
original text at the end, with Robotoff's correction for ``İ`` (the one character whose lowercase is two
characters long).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

WORD_CHARACTERS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
DOTTED_CAPITAL_I = "İ"

MATCH_SCHEMA = {"list": pl.String, "row": pl.UInt32, "start": pl.Int64, "end": pl.Int64, "keyword": pl.String}


@dataclass
class KeywordSet:
    """Keywords (lowercased patterns) and the clean value each one maps to.

    Adding a pattern equal, once lowercased, to an earlier one replaces its clean value, as in flashtext's
    trie.
    """

    clean: dict[str, Any] = field(default_factory=dict)
    _frame: pl.DataFrame | None = field(default=None, repr=False, compare=False)
    version: int = field(default=0, repr=False, compare=False)  # bumped by add: keys the pattern cache

    def add(self, pattern: str, value: Any) -> None:
        key = pattern.lower()
        if key:
            self.clean[key] = value
            self._frame = None
            self.version += 1

    def frame(self) -> pl.DataFrame:
        """``keyword, key, name``: the patterns and their ``(key, name)`` clean values, for joins."""
        if self._frame is None:
            rows = [(keyword, *value) for keyword, value in self.clean.items()]
            schema = {"keyword": pl.String, "key": pl.String, "name": pl.String}
            self._frame = pl.DataFrame(rows, schema=schema, orient="row")
        return self._frame

    @property
    def patterns(self) -> list[str]:
        return list(self.clean)

    def __len__(self) -> int:
        return len(self.clean)


def parse_keyword_lines(lines: Iterable[str], keep: Callable[[str, str], bool] | None = None) -> KeywordSet:
    """Robotoff's ``key||name`` / ``key||name||pattern`` files: the clean value is ``(key, name)``.

    ``keep(key, name)`` filters entries (the brand lists drop numeric names and blacklisted tags).
    """
    keywords = KeywordSet()
    for line in lines:
        parts = line.split("||")
        if len(parts) == 2:
            key, name = parts
            pattern = name
        elif len(parts) == 3:
            key, name, pattern = parts
        else:
            raise ValueError(f"invalid keyword line (expected key||name[||pattern]): {line!r}")
        if keep is not None and not keep(key, name):
            continue
        keywords.add(pattern, (key, name))
    return keywords


def lowercase(texts: pl.Series) -> pl.Series:
    """``str.lower`` of every text: Polars for ASCII texts, Python's own ``lower`` for the others."""
    lowered = texts.fill_null("").str.to_lowercase()
    non_ascii = (texts.str.len_bytes() != texts.str.len_chars()).fill_null(False)
    if non_ascii.any():
        indices = non_ascii.arg_true().to_list()
        values = texts.gather(indices).to_list()
        lowered = lowered.scatter(indices, [v.lower() for v in values])
    return lowered


def lower_text(frame: pl.DataFrame) -> pl.Series | None:
    """The frame's lowercased default text, when the text frame carries it (see ``texts.py``)."""
    return frame["text_lower"] if "text_lower" in frame.columns else None


# Texts shorter than this in total (characters) match only the patterns whose first three characters occur in
# them: building the automaton of a 7,000-pattern list costs more than a product name's whole match
# (``docs/listener.md``, "Keeping a batch cheap").
PREFILTER_MAX_CHARS = 50_000
_PATTERN_CACHE_SIZE = 16
_PREFIX = 3  # characters of a pattern's prefix in the prefilter's index


@dataclass(frozen=True)
class _Patterns:
    """The patterns of some keyword lists, built once per lists: who owns each pattern, and an index by
    their prefix for the prefilter."""

    sets: tuple[KeywordSet, ...]  # held so that the ids keying the cache stay theirs
    owners: pl.DataFrame  # list, keyword
    patterns: list[str]  # distinct, in first-seen order
    # first three characters (the whole pattern for two-character ones) → positions in ``patterns``
    by_prefix: dict[str, list[int]]
    single: list[int]  # one-character patterns: no prefix to look up

    def candidates(self, lowered: pl.Series) -> list[str]:
        """The patterns that can occur in ``lowered``: all of them for large inputs; for small ones those
        whose prefix (three characters, or two for two-character patterns) occurs in some text (exact: an
        occurrence contains its prefix). Three characters rather than two: four product names then select a
        few hundred of the 7,075 brand patterns instead of thousands (``docs/listener.md``)."""
        if int(lowered.str.len_chars().sum() or 0) > PREFILTER_MAX_CHARS:
            return self.patterns
        grams = set()
        for text in lowered.drop_nulls().to_list():
            grams.update(text[i : i + 2] for i in range(len(text) - 1))
            grams.update(text[i : i + _PREFIX] for i in range(len(text) - _PREFIX + 1))
        chosen = set(self.single)
        for gram in grams:
            chosen.update(self.by_prefix.get(gram, ()))
        return [self.patterns[i] for i in sorted(chosen)]


_pattern_cache: dict[tuple, _Patterns] = {}


def _patterns(lists: Mapping[str, KeywordSet]) -> _Patterns:
    key = tuple((name, id(keywords), keywords.version) for name, keywords in lists.items())
    found = _pattern_cache.get(key)
    if found is None:
        owners = pl.DataFrame(
            [(name, pattern) for name, keywords in lists.items() for pattern in keywords.clean],
            schema={"list": pl.String, "keyword": pl.String},
            orient="row",
        )
        patterns = list(dict.fromkeys(owners["keyword"].to_list()))
        by_prefix: dict[str, list[int]] = {}
        for index, pattern in enumerate(patterns):
            if len(pattern) >= 2:
                by_prefix.setdefault(pattern[:_PREFIX], []).append(index)
        single = [index for index, pattern in enumerate(patterns) if len(pattern) < 2]
        found = _Patterns(tuple(lists.values()), owners, patterns, by_prefix, single)
        if len(_pattern_cache) >= _PATTERN_CACHE_SIZE:
            _pattern_cache.pop(next(iter(_pattern_cache)))
        _pattern_cache[key] = found
    return found


def _occurrences(lowered: pl.Series, patterns: list[str]) -> pl.DataFrame:
    """Every occurrence of every pattern whose ends fall on boundaries: row, character start/end, pattern."""
    frame = pl.DataFrame({"text": lowered}).with_row_index("row")
    found = frame.with_columns(
        start=pl.col("text").str.find_many(patterns, overlapping=True),
        keyword=pl.col("text").str.extract_many(patterns, overlapping=True),
    ).filter(pl.col("start").list.len() > 0)
    found = found.explode("start", "keyword").with_columns(start=pl.col("start").cast(pl.Int64))
    found = found.with_columns(end=pl.col("start") + pl.col("keyword").str.len_chars())
    before = pl.when(pl.col("start") > 0).then(pl.col("text").str.slice(pl.col("start") - 1, 1))
    after = pl.col("text").str.slice(pl.col("end"), 1)  # "" at the text end
    on_boundaries = ~before.is_in(WORD_CHARACTERS).fill_null(False) & ~after.is_in(WORD_CHARACTERS)
    return found.filter(on_boundaries).select("row", "start", "end", "keyword")


def _scan_groups(groups: list[int], starts: list[int], ends: list[int]) -> list[bool]:
    """Greedy choice over occurrences sorted by (group, start, -length): which are kept.

    In each group (one list, one text), an occurrence is kept when it starts after the end of the last kept
    one — the boundary character that ends a match is consumed, so equality is not enough.
    """
    kept: list[bool] = []
    current, last_end = None, -1
    for group, start, end in zip(groups, starts, ends, strict=True):
        if group != current:
            current, last_end = group, -1
        keep = start > last_end
        kept.append(keep)
        if keep:
            last_end = end
    return kept


def _choose(occurrences: pl.DataFrame) -> pl.DataFrame:
    """Leftmost-longest, non-overlapping occurrences per (list, row).

    Sorted by (list, row, start, -end), the longest occurrence per start is the first of its start. An
    occurrence starting after every earlier occurrence of its text ended is certainly kept; texts where some
    occurrence does not are "tangled" (rare) and get the exact greedy scan.
    """
    ordered = occurrences.sort(["list", "row", "start", "end"], descending=[False, False, False, True])
    group = pl.struct("list", "row").rle_id()
    same_start = (pl.col("group") == pl.col("group").shift(1)) & (pl.col("start") == pl.col("start").shift(1))
    longest = ordered.with_columns(group=group).filter(~same_start.fill_null(False))
    # running maximum of `end` inside each group without a window: groups are consecutive and numbered in
    # increasing order, so offsetting each group's ends by group * stride keeps maxima from leaking.
    stride = int(longest["end"].max() or 0) + 2
    offset = pl.col("group").cast(pl.Int64) * stride
    earlier = (offset + pl.col("end")).cum_max().shift(1) - offset
    flagged = longest.with_columns(clear=(pl.col("start") > earlier).fill_null(True))
    tangled_groups = flagged.filter(~pl.col("clear"))["group"].unique()
    if tangled_groups.len() == 0:
        return flagged.drop("group", "clear")
    is_tangled = pl.col("group").is_in(tangled_groups.implode())
    clean = flagged.filter(~is_tangled).drop("group", "clear")
    tangled = flagged.filter(is_tangled)  # still sorted by group, start, -end
    keep = _scan_groups(tangled["group"].to_list(), tangled["start"].to_list(), tangled["end"].to_list())
    chosen = tangled.filter(pl.Series(keep, dtype=pl.Boolean)).drop("group", "clear")
    return pl.concat([clean, chosen]).sort("list", "row", "start")


def _to_original(chosen: pl.DataFrame, texts: pl.Series, lowered: pl.Series) -> pl.DataFrame:
    """Character offsets in the lowercased text → character offsets in the original text (they differ only
    where the text holds ``İ``)."""
    longer = (lowered.str.len_chars() != texts.str.len_chars()).fill_null(False)
    rows = chosen["row"]
    needs = longer.gather(rows)
    if not needs.any():
        return chosen
    starts, ends = chosen["start"].to_list(), chosen["end"].to_list()
    for index in needs.arg_true().to_list():
        starts[index], ends[index] = _original_span(texts[rows[index]], starts[index], ends[index])
    return chosen.with_columns(start=pl.Series(starts, dtype=pl.Int64), end=pl.Series(ends, dtype=pl.Int64))


def _original_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Map a span of ``text.lower()`` to ``text``: ``İ`` lowercases to two characters."""
    mapping: list[int] = []
    for index, char in enumerate(text):
        if char == DOTTED_CAPITAL_I:
            mapping.append(index)
        mapping.append(index)
    return mapping[start], mapping[end - 1] + 1


def match_keywords(
    texts: pl.Series, lists: Mapping[str, KeywordSet], lowered: pl.Series | None = None
) -> pl.DataFrame:
    """Flashtext matches of several keyword lists over ``texts``, each list matched on its own.

    Returns one row per match: ``list`` (the name given in ``lists``), ``row`` (index in ``texts``),
    ``start``/``end`` (character span in the original text) and ``keyword`` (the lowercased pattern, key of
    that list's ``clean`` values). One Aho-Corasick pass serves every list. ``lowered`` is
    ``lowercase(texts)`` when the caller already has it (text frames carry it for every keyword predictor).
    """
    texts = texts.cast(pl.String)
    lists = {name: keywords for name, keywords in lists.items() if len(keywords)}
    if texts.len() == 0 or not lists:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    index = _patterns(lists)
    lowered = lowercase(texts) if lowered is None else lowered
    candidates = index.candidates(lowered)
    if not candidates:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    occurrences = _occurrences(lowered, candidates)
    if occurrences.height == 0:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    occurrences = occurrences.join(index.owners, on="keyword", how="inner")
    chosen = _choose(occurrences)
    return _to_original(chosen, texts, lowered).select(list(MATCH_SCHEMA))

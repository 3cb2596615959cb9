"""Flashtext semantics of the vectorized keyword matcher (``robotoff/utils/text/flashtext.py``)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.predictors.keywords import KeywordSet, match_keywords, parse_keyword_lines

WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def trie_walk(text: str, keywords: dict[str, str]) -> list[tuple[int, int, str]]:
    """Reference: a literal character trie walk in the manner of Robotoff's KeywordProcessor.

    Written from the spec's description (lowercase, ASCII word characters, matches start after a boundary,
    longest at a start wins, the ending boundary is consumed), one character at a time.
    """
    trie: dict = {}
    for pattern in keywords:
        node = trie
        for char in pattern:
            node = node.setdefault(char, {})
        node["$"] = pattern
    lowered = text.lower()
    found = []
    index = 0
    length = len(lowered)
    while index < length:
        at_start = index == 0 or lowered[index - 1] not in WORD
        if not at_start:
            index += 1
            continue
        node, best, cursor = trie, None, index
        while cursor < length and lowered[cursor] in node:
            node = node[lowered[cursor]]
            cursor += 1
            if "$" in node and (cursor == length or lowered[cursor] not in WORD):
                best = (index, cursor, node["$"])
        if best is None:
            index += 1
            continue
        found.append(best)
        index = best[1] + 1  # the boundary character ending the match is consumed
    return found


def matches(texts: list[str], keywords: KeywordSet) -> list[list[tuple[int, int, str]]]:
    frame = match_keywords(pl.Series(texts, dtype=pl.String), {"k": keywords})
    out: list[list[tuple[int, int, str]]] = [[] for _ in texts]
    for row, start, end, keyword in frame.select("row", "start", "end", "keyword").iter_rows():
        out[row].append((start, end, keyword))
    return out


def keyword_set(*patterns: str) -> KeywordSet:
    keywords = KeywordSet()
    for pattern in patterns:
        keywords.add(pattern, pattern)
    return keywords


def test_accented_letters_are_boundaries() -> None:
    keywords = keyword_set("lait", "café")
    found = matches(["élait", "cafés", "un café.", "lait"], keywords)
    assert found == [[(1, 5, "lait")], [], [(3, 7, "café")], [(0, 4, "lait")]]


def test_longest_at_leftmost_start_then_no_overlap() -> None:
    keywords = keyword_set("big", "big apple", "apple pie")
    assert matches(["big apple pie"], keywords) == [[(0, 9, "big apple")]]
    assert matches(["big big apple"], keywords) == [[(0, 3, "big"), (4, 13, "big apple")]]


def test_a_double_space_breaks_multi_word_patterns() -> None:
    assert matches(["big  apple"], keyword_set("big apple")) == [[]]


def test_the_boundary_ending_a_match_is_consumed() -> None:
    keywords = keyword_set("lait", "& co")
    assert matches(["lait& co"], keywords) == [[(0, 4, "lait")]]
    assert matches(["lait & co"], keywords) == [[(0, 4, "lait"), (5, 9, "& co")]]


def test_case_insensitive_and_spans_in_the_original_text() -> None:
    found = matches(["İİ LAIT", "Crème LAIT"], keyword_set("lait"))
    assert found == [[(3, 7, "lait")], [(6, 10, "lait")]]
    text = "İİ LAIT"
    assert text[3:7] == "LAIT"


def test_later_duplicate_pattern_wins() -> None:
    keywords = parse_keyword_lines(["a||Lait", "b||LAIT"])
    assert keywords.clean == {"lait": ("b", "LAIT")}


def test_several_lists_match_independently() -> None:
    lists = {"one": keyword_set("big apple"), "two": keyword_set("apple pie")}
    frame = match_keywords(pl.Series(["big apple pie"]), lists)
    assert sorted(frame.select("list", "start", "end").iter_rows()) == [("one", 0, 9), ("two", 4, 13)]


ALPHABET = st.sampled_from(list("ab é-İ.Ab'"))


@settings(max_examples=400, deadline=None)
@given(
    texts=st.lists(st.text(ALPHABET, max_size=14), min_size=1, max_size=6),
    patterns=st.lists(st.text(ALPHABET, min_size=1, max_size=5), min_size=1, max_size=6),
)
def test_equals_a_literal_trie_walk(texts: list[str], patterns: list[str]) -> None:
    keywords = keyword_set(*patterns)
    expected = [trie_walk(text, keywords.clean) for text in texts]
    got = matches(texts, keywords)
    # spans of the reference are in the lowercased text; map them for texts whose lowercase is longer
    for text, want, have in zip(texts, expected, got, strict=True):
        if "İ" not in text:
            assert have == want, text
        else:
            assert [k for _, _, k in have] == [k for _, _, k in want], text

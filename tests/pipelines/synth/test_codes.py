"""The barcode mix: each kind normalizes as intended, kinds never collide, conflicts come in pairs."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import barcodes
from pipelines.synth.codes import (
    CONFLICT_PARTNER,
    DEFAULT_MIX,
    KINDS,
    MixError,
    assign_kinds,
    make_code,
    parse_mix,
)
from tests.pipelines.synth.conftest import SynthRun

ranks = st.integers(min_value=0, max_value=5_000_000)


@settings(max_examples=300, deadline=None)
@given(ranks)
def test_each_kind_has_its_shape(rank: int) -> None:
    ean13 = make_code("ean13", rank).raw
    assert len(ean13) == 13 and barcodes.normalize_code(ean13) == ean13
    upc = make_code("upc_padded", rank).raw
    assert len(upc) == 13 and upc[0] == "0" and barcodes.normalize_code(upc) == upc
    ean8 = make_code("ean8", rank).raw
    assert len(ean8) == 8 and barcodes.normalize_code(ean8) == ean8
    padded = make_code("ean8_padded", rank).raw
    assert len(padded) in (13, 14) and barcodes.normalize_code(padded) == padded.lstrip("0")
    assert len(barcodes.normalize_code(padded) or "") == 8
    short = make_code("short", rank).raw
    assert 4 <= len(short.lstrip("0")) <= 7 and len(barcodes.normalize_code(short) or "") == 8
    unpadded = make_code("unpadded", rank).raw
    assert 9 <= len(unpadded) <= 12 and unpadded[0] != "0"
    assert barcodes.normalize_code(unpadded) == unpadded.zfill(13)
    gtin14 = make_code("gtin14", rank).raw
    assert len(gtin14) == 14 and barcodes.normalize_code(gtin14) == gtin14
    bogus = make_code("bogus", rank).raw
    assert 1 <= len(bogus) <= 3 and not barcodes.is_valid_code(bogus)
    first, second = make_code("conflict", rank).raw, make_code(CONFLICT_PARTNER, rank).raw
    assert first != second and barcodes.normalize_code(first) == barcodes.normalize_code(second)
    for raw in (ean13, upc, ean8, padded, short, unpadded, gtin14, first, second):
        assert barcodes.is_valid_code(raw), raw


def test_kinds_never_collide_after_normalization() -> None:
    seen: dict[str, tuple[str, int]] = {}
    for kind in KINDS:
        if kind == "bogus":
            continue
        for rank in range(20_000):
            normalized = barcodes.normalize_code(make_code(kind, rank).raw)
            assert normalized not in seen, (kind, rank, seen.get(normalized))
            seen[normalized] = (kind, rank)


def test_conflicts_come_in_adjacent_pairs() -> None:
    kinds = assign_kinds({"conflict": 1.0}, [0.5] * 5)
    assert kinds == ["conflict", CONFLICT_PARTNER, "conflict", CONFLICT_PARTNER, "ean13"]


def test_parse_mix() -> None:
    mix = parse_mix("ean13=1,bogus=1")
    assert mix["ean13"] == mix["bogus"] > mix["ean8"]
    assert sum(mix.values()) == pytest.approx(1.0)
    with pytest.raises(MixError, match="unknown barcode kind"):
        parse_mix("qr=1")
    with pytest.raises(MixError):
        parse_mix("ean13=-1")


def test_generated_mix_follows_the_shares(synth_run: SynthRun) -> None:
    kinds = synth_run.report.barcode_kinds
    total = sum(kinds.values())
    assert total == synth_run.report.products
    assert kinds["conflict"] == kinds[CONFLICT_PARTNER] == synth_run.report.conflict_pairs > 0
    for kind, share in DEFAULT_MIX.items():
        observed = kinds.get(kind, 0) / total * (2 if kind == "conflict" else 1)
        assert observed == pytest.approx(share, abs=max(0.01, share * 0.5)), kind


def test_dump_codes_are_unique_except_conflicts_and_bogus(synth_run: SynthRun) -> None:
    truth = synth_run.truth_records()
    counts = Counter(r["normalized_code"] for r in truth if r["barcode_kind"] != "bogus")
    duplicated = {code for code, n in counts.items() if n > 1}
    conflict_codes = {r["normalized_code"] for r in truth if r["barcode_kind"] == "conflict"}
    assert duplicated == conflict_codes
    assert all(counts[code] == 2 for code in conflict_codes)
    partners = [r for r in truth if r["conflict_with"]]
    assert len(partners) == synth_run.report.conflict_pairs
    by_raw = {r["code"]: r for r in truth}
    for record in partners:
        assert by_raw[record["conflict_with"]]["normalized_code"] == record["normalized_code"]
        assert record["conflict_with"] != record["code"]

"""The generator stays within tolerances of the real sample's profile (../shared/data/products)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.synth.profile import Profile, profile_file
from tests.pipelines.synth.conftest import SynthRun

MIN_RATE = 0.05  # fields present in at least 5% of real documents are compared


@pytest.fixture(scope="module")
def real(real_off_sample: Path) -> Profile:
    return profile_file(real_off_sample)


@pytest.fixture(scope="module")
def synthetic(synth_run: SynthRun) -> Profile:
    return profile_file(synth_run.dump)


def test_field_presence_rates(real: Profile, synthetic: Profile) -> None:
    off = []
    for key in real.fields:
        expected = real.rate(key)
        if expected < MIN_RATE:
            continue
        got = synthetic.rate(key)
        if abs(got - expected) > max(0.08, 0.25 * expected):
            off.append((key, round(expected, 3), round(got, 3)))
    assert off == []
    compared = sum(1 for key in real.fields if real.rate(key) >= MIN_RATE)
    assert compared > 250


def test_json_type_mix(real: Profile, synthetic: Profile) -> None:
    off = []
    for key, stats in real.fields.items():
        if real.rate(key) < MIN_RATE:
            continue
        for kind, count in stats.types.items():
            share = count / stats.present
            if share >= 0.1 and abs(synthetic.type_share(key, kind) - share) > 0.25:
                off.append((key, kind, round(share, 2), round(synthetic.type_share(key, kind), 2)))
    assert off == []


def test_document_sizes(real: Profile, synthetic: Profile) -> None:
    ours, theirs = synthetic.size_summary(), real.size_summary()
    assert ours["mean"] >= 8 * 1024
    assert 0.5 * theirs["mean"] <= ours["mean"] <= 1.5 * theirs["mean"]
    assert ours["p90"] / ours["p50"] > 1.2  # sizes spread like real ones, not all alike


def test_bad_lines_are_counted_not_fatal(synthetic: Profile, synth_run: SynthRun) -> None:
    assert synthetic.documents == synth_run.report.products
    assert sum(synthetic.bad_lines.values()) == sum(synth_run.report.bad_lines.values())

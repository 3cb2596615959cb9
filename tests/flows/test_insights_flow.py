"""The ``refresh_insights`` flow on a real Prefect API: a tiny synthetic snapshot, counts in the artifact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.convert.convert import convert_dump
from pipelines.ocr.ingest import ingest_archive
from pipelines.synth.generator import SynthSpec, generate
from tests.flows.artifacts import artifact

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def snapshot(data_dir: Path, taxonomy_dir: Path, keywords_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 60-product snapshot and its OCR table under the test's OFF_DATA_DIR; returns the OCR table."""
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    dump, archive = data_dir / "synth.jsonl.gz", data_dir / "ocr.jsonl.gz"
    spec = SynthSpec(products=60, seed=7, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, dump, ocr_out=archive)
    convert_dump(dump, "off")
    return Path(ingest_archive(archive, flavor="off").output)


def _table_counts(markdown: str) -> dict[str, list[int]]:
    """``type → [candidates, created, updated, deleted, kept_protected]`` from the artifact's table."""
    rows = re.findall(r"^\| ([a-z_]+)" + r" \| (\d+)" * 5 + r" \|$", markdown, re.MULTILINE)
    return {row[0]: [int(n) for n in row[1:]] for row in rows}


def test_refresh_flow_publishes_counts(snapshot: Path) -> None:
    from flows.insights import refresh_insights

    first = refresh_insights(flavor="off", ocr_table=str(snapshot))
    assert first["totals"]["created"] > 0
    markdown = max(artifact("refresh-off"), key=lambda a: a.created).data  # other flow tests publish it too
    assert first["run_id"] in markdown
    counts = _table_counts(markdown)
    refresh = first["refresh"]
    for kind_index, kind in enumerate(("candidates", "created", "updated", "deleted", "kept_protected")):
        assert {t: c[kind_index] for t, c in counts.items() if c[kind_index]} == refresh[kind]
    assert re.search(
        rf"^\| \*\*total\*\* \| \d+ \| {first['totals']['created']} \| 0 \| 0 \| 0 \|$", markdown, re.M
    )

    second = refresh_insights(flavor="off", predict=False)
    assert second["predict"] is None
    assert [second["totals"][k] for k in ("created", "updated", "deleted")] == [0, 0, 0]
    latest = max(artifact("refresh-off"), key=lambda a: a.created)
    assert second["run_id"] in latest.data
    rerun = _table_counts(latest.data)
    assert all(c[1:4] == [0, 0, 0] for c in rerun.values())
    assert {t: c[4] for t, c in rerun.items() if c[4]} == second["refresh"]["kept_protected"]

"""The ``write_quality_facets`` flow on a real Prefect API: a dry run publishes the plan's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.artifacts import artifact
from tests.pipelines.facets.conftest import NUTRITION, PHOTOS, World, mention, product

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_flow_publishes_the_counts(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.facets import write_quality_facets

    monkeypatch.delenv("MONGO_URI", raising=False)
    world = World(data_dir, snapshot_file=data_dir / "parquet" / "off" / "products.parquet")
    world.products = [product("3000000000017"), product("3000000000024", nutrition_imgid=3)]
    world.predictions = [mention("3000000000017", 2), mention("3000000000024", 3)]
    world.write()

    report = write_quality_facets(flavor="off", dry_run=True)
    assert report["products_planned"] == 2 and not report["applied"]
    markdown = artifact("fiber-facets-off")[0].data
    assert f"| `{PHOTOS}` | 2 | 0 |" in markdown
    assert f"| `{NUTRITION}` | 1 | 0 |" in markdown
    assert "dry run" in markdown

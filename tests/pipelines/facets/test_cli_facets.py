"""``offpipe facets``: the report as JSON, plan files under $OFF_DATA_DIR, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.facets.report import PLAN_FILE
from tests.pipelines.facets.conftest import PHOTOS, World, mention, product

runner = CliRunner()
CODE = "3000000000017"


def test_dry_run_prints_the_report(data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:1/")  # dry run: never contacted
    world = World(tmp_path, snapshot_file=data_dir / "parquet" / "off" / "products.parquet")
    world.products, world.predictions = [product(CODE)], [mention(CODE, 2)]
    world.write()

    result = runner.invoke(app, ["facets", "--dry-run", "--batch-size", "10", "--store", str(world.store)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["applied"] is False
    assert report["products_planned"] == 1 and report["facets_added"][PHOTOS] == 1
    assert report["plan"] == str(data_dir / "reports" / "facets" / "off" / PLAN_FILE)


def test_errors(data_dir: Path) -> None:
    unsupported = runner.invoke(app, ["facets", "--flavor", "obf"])
    assert unsupported.exit_code == 2 and "off only" in unsupported.output
    assert runner.invoke(app, ["facets", "--flavor", "nope"]).exit_code == 2
    assert runner.invoke(app, ["facets", "--batch-size", "0"]).exit_code == 2
    missing = runner.invoke(app, ["facets", "--dry-run"])  # no snapshot converted yet
    assert missing.exit_code == 1 and "no Parquet table" in missing.output

"""docs/facets.md names every report field, plan column, plan file and facet of the code."""

from __future__ import annotations

from dataclasses import fields

from pipelines.facets import plan, report
from tests.conftest import REPO

DOC = (REPO / "docs" / "facets.md").read_text(encoding="utf-8")


def test_report_fields_plan_columns_files_and_facets_are_documented() -> None:
    names = [f.name for f in fields(report.FacetReport)] + list(plan.PLAN_SCHEMA.names)
    files = [report.PLAN_FILE, report.SUMMARY_MARKDOWN, report.SUMMARY_JSON, report.CHECKPOINT_FILE]
    missing = [name for name in [*names, *files, report.REPORT_FILE, *plan.FACETS] if f"`{name}`" not in DOC]
    assert missing == []

"""docs/facets.md names every report field, plan column, plan file and facet of the code."""

from __future__ import annotations

from dataclasses import fields

from pipelines import facets
from tests.conftest import REPO

DOC = (REPO / "docs" / "facets.md").read_text(encoding="utf-8")


def test_report_fields_plan_columns_files_and_facets_are_documented() -> None:
    names = [f.name for f in fields(facets.FacetReport)] + list(facets.PLAN_SCHEMA.names)
    files = [facets.PLAN_FILE, facets.SUMMARY_MARKDOWN, facets.SUMMARY_JSON, facets.CHECKPOINT_FILE]
    missing = [
        name for name in [*names, *files, facets.REPORT_FILE, *facets.FACETS] if f"`{name}`" not in DOC
    ]
    assert missing == []

"""What a facet run leaves behind: the plan files (Parquet plan, markdown and JSON summary), written before
MongoDB is touched so a run can be reviewed, and the run's report (``docs/facets.md``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common import files as atomic_files
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.facets.plan import FACETS, PLAN_SCHEMA, plan_digest, skipped_invalid_codes

logger = logging.getLogger(__name__)

PLAN_FILE = "fiber_facets.plan.parquet"
SUMMARY_MARKDOWN = "fiber_facets.summary.md"
SUMMARY_JSON = "fiber_facets.summary.json"
CHECKPOINT_FILE = "fiber_facets.checkpoint.json"
REPORT_FILE = "fiber_facets.report.json"
LISTED = 20  # plan rows shown in the markdown summary (all of them are in the Parquet file)


@dataclass
class FacetReport:
    """Counts of one facet run. ``matched``/``modified`` count update operations as MongoDB reports them
    (a product losing one facet and gaining the other is two operations); ``operations``, ``round_trips``,
    ``matched`` and ``modified`` cover what this run sent, not batches an earlier run completed."""

    flavor: str = Flavor.off.value
    dry_run: bool = False
    applied: bool = False
    target: str | None = None
    plan: str | None = None
    plan_sha256: str = ""
    products_planned: int = 0
    facets_added: dict[str, int] = field(default_factory=dict)
    facets_removed: dict[str, int] = field(default_factory=dict)
    skipped_invalid_codes: int = 0
    operations: int = 0
    batches: int = 0
    batches_skipped: int = 0
    round_trips: int = 0
    matched: int = 0
    modified: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanFiles:
    """The files :func:`write_plan` wrote."""

    plan: Path
    markdown: Path
    json: Path


def plan_report(plan: pa.Table) -> FacetReport:
    """A report holding the plan's own counts (nothing sent yet)."""
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for tags in plan.column("facets_to_add").to_pylist():
        added.update(tags or ())
    for tags in plan.column("facets_to_remove").to_pylist():
        removed.update(tags or ())
    return FacetReport(
        plan_sha256=plan_digest(plan),
        products_planned=plan.num_rows,
        facets_added={facet: added.get(facet, 0) for facet in FACETS},
        facets_removed={facet: removed.get(facet, 0) for facet in FACETS},
        skipped_invalid_codes=skipped_invalid_codes(plan),
    )


def reports_dir(flavor: Flavor | str, settings: Settings | None = None) -> Path:
    """Where a flavor's plan, summary, checkpoint and report go: ``$OFF_DATA_DIR/reports/facets/<flavor>``."""
    return (settings or get_settings()).data_dir / "reports" / "facets" / Flavor(flavor).value


# --- plan files --------------------------------------------------------------------------------------------


def write_plan(plan: pa.Table, out_dir: Path | str) -> PlanFiles:
    """Write the plan (Parquet), its markdown summary and JSON counts into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = PlanFiles(out_dir / PLAN_FILE, out_dir / SUMMARY_MARKDOWN, out_dir / SUMMARY_JSON)
    table = plan.select(PLAN_SCHEMA.names).cast(PLAN_SCHEMA).replace_schema_metadata(plan.schema.metadata)
    with atomic_files.atomic_path(files.plan) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    report = plan_report(plan)
    summary = {
        "plan": str(files.plan),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
        "plan_sha256": report.plan_sha256,
        "products": report.products_planned,
        "facets_to_add": report.facets_added,
        "facets_to_remove": report.facets_removed,
        "skipped_invalid_codes": report.skipped_invalid_codes,
    }
    text = plan_markdown(summary, plan.slice(0, LISTED).to_pylist())
    atomic_files.write_text(files.markdown, text)
    atomic_files.write_json(files.json, summary)
    logger.info("fiber facet plan written to %s (%d products)", files.plan, plan.num_rows)
    return files


def read_plan(path: Path | str) -> pa.Table:
    """A plan written by :func:`write_plan` (with its skipped-code count)."""
    return pq.read_table(path)


def _facet_table(added: Mapping[str, int], removed: Mapping[str, int]) -> list[str]:
    lines = ["| facet | to add | to remove |", "| --- | ---: | ---: |"]
    lines += [f"| `{facet}` | {added.get(facet, 0)} | {removed.get(facet, 0)} |" for facet in FACETS]
    return lines


def plan_markdown(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] = ()) -> str:
    """The plan summary as markdown: counts per facet, then the first rows of the plan."""
    lines = [
        "# Fiber quality facets — plan",
        "",
        f"Plan: `{summary['plan']}` (sha256 `{summary['plan_sha256']}`)",
        "",
        f"- products to change: {summary['products']}",
        f"- products skipped for an invalid code: {summary['skipped_invalid_codes']}",
        "",
        *_facet_table(summary["facets_to_add"], summary["facets_to_remove"]),
    ]
    if rows:
        lines += ["", f"## First {len(rows)} products", "", "| code | add | remove |", "| --- | --- | --- |"]
        lines += [
            f"| {row['code']} | {', '.join(row['facets_to_add'])} | {', '.join(row['facets_to_remove'])} |"
            for row in rows
        ]
    return "\n".join(lines) + "\n"


def report_markdown(report: Mapping[str, Any]) -> str:
    """A run's report as markdown (the flow's artifact)."""
    if report["applied"]:
        outcome = f"applied to `{report['target']}`"
    else:
        outcome = "dry run: plan only" if report["dry_run"] else "plan only (no MONGO_URI)"
    lines = [
        f"# Fiber quality facets — {report['flavor']}",
        "",
        f"{outcome}; plan `{report['plan']}`",
        "",
        *_facet_table(report["facets_added"], report["facets_removed"]),
        "",
        f"- products planned: {report['products_planned']}",
        f"- products skipped for an invalid code: {report['skipped_invalid_codes']}",
        f"- batches: {report['batches']} ({report['batches_skipped']} done by an earlier run)",
        f"- update operations sent: {report['operations']} in {report['round_trips']} round trips",
        f"- matched: {report['matched']}, modified: {report['modified']}",
        f"- seconds: {report['seconds']}",
    ]
    return "\n".join(lines) + "\n"

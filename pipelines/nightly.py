"""The nightly job's report: one table of counts and one markdown page over every step's own report.

The nightly flow (``flows/nightly.py``) chains download → convert → barcode audit → (OCR sync from the images
bucket) → predictions → insight refresh → quality facets; each step already returns a JSON-ready report. This
module folds them into what the Prefect UI shows for a run (and ``offpipe nightly`` prints): a flat table with
one row per count, so runs can be compared in the artifact history, and a markdown summary linking the report
files on disk. Pure functions over plain dicts: no Prefect here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

STEPS = ("download", "convert", "audit", "ocr_sync", "refresh", "facets")
COUNT_KINDS = ("created", "updated", "deleted", "kept_protected")


def _row(step: str, count: str, value: Any) -> dict[str, Any]:
    return {"step": step, "count": count, "value": value}


def _download_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield _row("download", "status", report.get("status"))
    yield _row("download", "lines", report.get("lines"))
    yield _row("download", "bytes", report.get("size"))


def _convert_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield _row("convert", "lines in", report["lines_in"])
    yield _row("convert", "rows out", report["rows_out"])
    yield _row("convert", "repaired lines", report.get("repaired_lines", 0))
    yield _row("convert", "quarantined", report["quarantined_total"])
    for reason, count in sorted(report["quarantined"].items()):
        yield _row("convert", f"quarantined: {reason}", count)
    yield _row("convert", "values coerced to null", sum(report["coerced_to_null"].values()))


def _audit_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("products", "invalid", "changed_code", "moved", "not_moved", "same_path"):
        yield _row("audit", name.replace("_", " "), report[name])


def _ocr_sync_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("selected", "present", "rows_out", "quarantined_total"):
        yield _row("ocr sync", name.replace("_", " "), report[name])


def _refresh_rows(summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    predicted = summary.get("predict")
    if predicted is not None:
        yield _row("predict", "products", predicted["products"])
        yield _row("predict", "images predicted", predicted["images"])
        yield _row("predict", "images already predicted", predicted.get("images_already_predicted", 0))
        yield _row("predict", "images re-run for changed lists", predicted.get("images_partial", 0))
        for kind, count in sorted(predicted["per_type"].items()):
            yield _row("predict", f"predictions: {kind}", count)
    refresh = summary["refresh"]
    yield _row("refresh", "products", refresh["products"])
    for kind in ("candidates", *COUNT_KINDS):
        for insight_type, count in sorted(refresh.get(kind, {}).items()):
            yield _row("refresh", f"{kind}: {insight_type}", count)
    yield _row("refresh", "missing products", refresh["missing_products"])


def _facet_rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield _row("facets", "products planned", report["products_planned"])
    for facet, count in sorted(report["facets_added"].items()):
        yield _row("facets", f"added: {facet}", count)
    for facet, count in sorted(report["facets_removed"].items()):
        yield _row("facets", f"removed: {facet}", count)
    yield _row("facets", "documents modified", report["modified"])


def count_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows ``step, count, value`` of every step that ran (the run's table artifact)."""
    steps = summary["steps"]
    rows: list[dict[str, Any]] = []
    builders = {
        "download": _download_rows,
        "convert": _convert_rows,
        "audit": _audit_rows,
        "ocr_sync": _ocr_sync_rows,
        "refresh": _refresh_rows,
        "facets": _facet_rows,
    }
    for step in STEPS:
        if steps.get(step) is not None:
            rows.extend(builders[step](steps[step]))
    return rows


def report_files(summary: Mapping[str, Any]) -> dict[str, str]:
    """The files the steps wrote, by label (linked from the markdown)."""
    steps = summary["steps"]
    files: dict[str, str] = {}
    if steps.get("download"):
        files["dump"] = steps["download"]["path"]
    if steps.get("convert"):
        files["Parquet snapshot"] = steps["convert"]["output"]
    if steps.get("audit"):
        files["barcode audit (CSV)"] = steps["audit"]["csv"]
        files["barcode audit (markdown)"] = steps["audit"]["markdown"]
    if steps.get("ocr_sync"):
        files["OCR dataset"] = steps["ocr_sync"]["dataset"]
    if steps.get("facets") and steps["facets"].get("plan"):
        files["fiber facet plan"] = steps["facets"]["plan"]
    return files


def nightly_markdown(summary: Mapping[str, Any]) -> str:
    """The run as markdown: outcome, headline counts per step, and links to the report files."""
    steps = summary["steps"]
    lines = [f"# Nightly run — {summary['flavor']}", "", f"Outcome: **{summary['outcome']}**", ""]
    if steps.get("download"):
        download = steps["download"]
        lines.append(
            f"- download: {download['status']}, {download.get('lines')} lines, ETag `{download.get('etag')}`"
        )
    if steps.get("convert"):
        convert = steps["convert"]
        lines.append(
            f"- convert: {convert['lines_in']} lines in, {convert['rows_out']} rows out, "
            f"{convert['quarantined_total']} quarantined ({convert['seconds']} s)"
        )
    if steps.get("audit"):
        lines.append(f"- barcode audit: {steps['audit']['summary']}")
    if steps.get("ocr_sync"):
        sync = steps["ocr_sync"]
        lines.append(
            f"- OCR from the images bucket: {sync['rows_out']} new images, {sync['present']} already there, "
            f"{sync['quarantined_total']} quarantined ({sync['seconds']} s)"
        )
    if steps.get("refresh"):
        totals = steps["refresh"]["totals"]
        predicted = steps["refresh"].get("predict") or {}
        lines.append(
            f"- predictions: {predicted.get('predictions', 0)} from {predicted.get('products', 0)} "
            f"products and {predicted.get('images', 0)} images; insights created {totals['created']}, "
            f"updated {totals['updated']}, deleted {totals['deleted']}"
        )
    if steps.get("facets"):
        facets = steps["facets"]
        lines.append(
            f"- fiber facets: {facets['products_planned']} products planned, "
            + (f"{facets['modified']} documents modified" if facets["applied"] else "plan only")
        )
    files = report_files(summary)
    if files:
        lines += ["", "## Report files", ""]
        lines += [f"- {label}: `{path}`" for label, path in files.items()]
    return "\n".join(lines) + "\n"


def counts_table(summary: Mapping[str, Any]) -> str:
    """The count rows as an aligned plain-text table (what ``make demo`` prints)."""
    body = [(r["step"], r["count"], str(r["value"])) for r in count_rows(summary)]
    rows = [("step", "count", "value"), *body]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return f"Nightly run — {summary['flavor']}: {summary['outcome']}\n" + "\n".join(lines)

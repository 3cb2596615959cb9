"""``offpipe audit-barcodes``: the barcode migration audit of a flavor's snapshot."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer


def audit_barcodes_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    snapshot: Path | None = typer.Option(
        None, "--snapshot", help="Parquet snapshot (default: the flavor's)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Default: $OFF_DATA_DIR/reports/barcodes/<flavor>."
    ),
) -> None:
    """Count what the new barcode normalization does to each product (``docs/barcodes.md``); write CSV and
    markdown."""
    from pipelines.audit.barcodes import audit_barcodes
    from pipelines.common.config import Flavor

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    try:
        report = audit_barcodes(chosen, snapshot=snapshot, out_dir=out_dir)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    summary = asdict(report) | {"summary": report.summary_line()}
    summary["conflicts"] = summary["conflicts"][:20]
    summary["invalid_codes"] = summary["invalid_codes"][:20]
    typer.echo(json.dumps(summary, indent=2))

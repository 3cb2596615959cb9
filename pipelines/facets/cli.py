"""``offpipe facets``: plan the fiber data-quality facets and write them to MongoDB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer


def facets_command(
    flavor: str = typer.Option(
        "off", "--flavor", "-f", help="Flavor (the fiber facet is written for off only)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Write the plan only; never connect to MongoDB (also the case without MONGO_URI).",
    ),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Products per bulk_write round trip."),
    store: Path | None = typer.Option(
        None, "--store", help="Store file. Default: $OFF_DATA_DIR/store.duckdb."
    ),
) -> None:
    """Plan the fiber data-quality facets and write them to MongoDB (MONGO_URI); prints the report as JSON.

    The plan goes to $OFF_DATA_DIR/reports/facets/<flavor>/ in every case; an interrupted run resumes from its
    checkpoint there.
    """
    import duckdb
    from pymongo.errors import PyMongoError

    from pipelines.facets.errors import UnsupportedFlavorError
    from pipelines.facets.job import run_fiber_facets
    from pipelines.facets.plan import facet_flavor

    try:
        chosen = facet_flavor(flavor)
    except ValueError as exc:  # UnsupportedFlavorError, or no flavor of that name
        message = str(exc) if isinstance(exc, UnsupportedFlavorError) else f"unknown flavor {flavor!r}"
        raise typer.BadParameter(message, param_hint="--flavor") from exc
    try:
        report = run_fiber_facets(chosen, dry_run=dry_run, batch_size=batch_size, store=store)
    except (duckdb.IOException, PyMongoError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    typer.echo(json.dumps(report.to_dict(), indent=2))

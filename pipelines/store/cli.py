"""``offpipe predictions …``: commands on the prediction store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

predictions_app = typer.Typer(help="The prediction store ($OFF_DATA_DIR/store.duckdb).", no_args_is_help=True)


@predictions_app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", "-o", help="File to write (replaced atomically)."),
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet (data as JSON text) or jsonl."),
    store: Path | None = typer.Option(
        None, "--store", help="Store file. Default: $OFF_DATA_DIR/store.duckdb."
    ),
) -> None:
    """Export every stored prediction with Robotoff's column names; prints what was written as JSON."""
    import duckdb

    from pipelines.store.db import StoreNotFoundError, open_store
    from pipelines.store.export import ExportFormat, export_predictions

    try:
        chosen = ExportFormat(fmt)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown format {fmt!r} (parquet or jsonl)") from exc
    try:
        con = open_store(store, read_only=True)
    except StoreNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except duckdb.IOException as exc:  # another process has the store open for writing
        typer.echo(f"error: cannot open the store: {exc}", err=True)
        sys.exit(1)
    try:
        report = export_predictions(con, out, chosen)
    finally:
        con.close()
    typer.echo(json.dumps(report.to_dict(), indent=2))

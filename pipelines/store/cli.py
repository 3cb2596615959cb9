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
    store: str | None = typer.Option(
        None,
        "--store",
        help="Store: a DuckDB file or postgresql://… (default: OFF_STORE_URL, else data/store.duckdb).",
    ),
) -> None:
    """Export every stored prediction with Robotoff's column names; prints what was written as JSON."""
    import duckdb

    from pipelines.store.db import StoreNotFoundError
    from pipelines.store.export import ExportFormat, export_predictions
    from pipelines.store.session import store_reader

    try:
        chosen = ExportFormat(fmt)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown format {fmt!r} (parquet or jsonl)") from exc
    try:
        with store_reader(store, tables=("prediction",)) as con:
            report = export_predictions(con, out, chosen)
    except StoreNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except duckdb.IOException as exc:  # another process has the store open for writing
        typer.echo(f"error: cannot open the store: {exc}", err=True)
        sys.exit(1)
    typer.echo(json.dumps(report.to_dict(), indent=2))

"""``offpipe predictions …`` (commands on the prediction store) and ``offpipe store …`` (the PostgreSQL
store's tables)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

predictions_app = typer.Typer(help="The prediction store ($OFF_DATA_DIR/store.duckdb).", no_args_is_help=True)
store_app = typer.Typer(
    help="The PostgreSQL store: Robotoff's tables and offpipe's own (schema offpipe).", no_args_is_help=True
)
_URL_HELP = "PostgreSQL URL (postgresql://user:password@host:port/database). Default: $OFF_STORE_URL."


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


@store_app.command("init")
def store_init_command(url: str | None = typer.Option(None, "--url", help=_URL_HELP)) -> None:
    """Create Robotoff's tables on a database that has none (as Robotoff's migrations would) and offpipe's
    own in the schema offpipe, then check them; one transaction. Prints what was done as JSON."""
    from pipelines.store.postgres.connection import connect
    from pipelines.store.postgres.schema import init_schema
    from pipelines.store.target import postgres_target

    target = postgres_target(url, command="offpipe store init")
    conn = connect(target)
    try:
        report = init_schema(conn)
    finally:
        conn.close()
    typer.echo(json.dumps({"store": target.describe(), **report.to_dict()}, indent=2))


@store_app.command("check")
def store_check_command(url: str | None = typer.Option(None, "--url", help=_URL_HELP)) -> None:
    """Check, without changing anything, that the database has every table and column offpipe uses, with
    types it can use. Prints the tables checked as JSON; a mismatch is one line `error: …`, exit code 1."""
    from pipelines.store.postgres.connection import connect
    from pipelines.store.postgres.schema import check_schema
    from pipelines.store.target import postgres_target

    target = postgres_target(url, command="offpipe store check")
    conn = connect(target)
    try:
        checked = check_schema(conn)
    finally:
        conn.close()
    typer.echo(json.dumps({"store": target.describe(), "ok": True, "checked": checked}, indent=2))


_FROM_HELP = "The DuckDB store to copy (default: $OFF_DATA_DIR/store.duckdb)."
_TO_HELP = "The PostgreSQL store, postgresql://… (default: $OFF_STORE_URL); masked in the output."
_TIMEOUT_HELP = (
    "Seconds to wait for a writer holding the DuckDB store, or a bulk run of a flavor on PostgreSQL."
)


@store_app.command("copy")
def store_copy_command(
    source: Path | None = typer.Option(None, "--from", help=_FROM_HELP),
    to: str | None = typer.Option(None, "--to", help=_TO_HELP),
    timeout: float = typer.Option(60.0, "--timeout", help=_TIMEOUT_HELP),
) -> None:
    """Copy a DuckDB store into PostgreSQL: PostgreSQL's rows of each of its server types become the store's
    (annotated insights are kept), its runs are added; prints the rows per table on both sides as JSON.
    Copying again writes only what changed in the DuckDB store since (docs/store.md)."""
    from pipelines.common.config import get_settings
    from pipelines.store.postgres.copy import CopyMismatchError, copy_store
    from pipelines.store.target import postgres_target

    settings = get_settings()
    target = postgres_target(to, command="offpipe store copy", settings=settings)
    report = copy_store(source or settings.store_path, target, timeout=timeout, settings=settings)
    typer.echo(json.dumps(report.to_dict(), indent=2))
    mismatches = report.mismatches()
    if mismatches:
        raise CopyMismatchError(mismatches)  # the root CLI: one line, exit code 1

"""``offpipe refresh`` (predict + import + insight refresh of a flavor) and ``offpipe insights …``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import duckdb

    from pipelines.common.config import Flavor
    from pipelines.insights.job import AfterRefresh

insights_app = typer.Typer(help="The insight store ($OFF_DATA_DIR/store.duckdb).", no_args_is_help=True)

_STORE_HELP = (
    "Store: a DuckDB file or postgresql://… Default: OFF_STORE_URL, else $OFF_DATA_DIR/store.duckdb."
)


def _flavor(value: str) -> Flavor:
    from pipelines.common.config import Flavor

    try:
        return Flavor(value)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {value!r}") from exc


def refresh_command(after_refresh: AfterRefresh | None) -> Callable[..., None]:
    """The ``offpipe refresh`` command, running ``after_refresh`` under the refresh's writer lock: the root
    CLI passes the listener's replay, which this stage may not import (docs/listener.md)."""

    def refresh(
        flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
        ocr: Path | None = typer.Option(
            None,
            "--ocr",
            help="OCR texts to predict from: a table from `offpipe ocr-ingest` (.parquet) or an OCR archive "
            "(.jsonl[.gz], ingested first). Without it only product names are predicted.",
        ),
        types: list[str] | None = typer.Option(
            None, "--type", "-t", help="Prediction types to run (default: all)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Delete the insights of missing products even below 90% of the last run."
        ),
        no_predict: bool = typer.Option(
            False, "--no-predict", help="Skip predict + import: refresh from the predictions already stored."
        ),
        all_images: bool = typer.Option(
            False,
            "--all-images",
            help="Predict every OCR image again, even those already predicted with the same OCR and lists.",
        ),
        store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
    ) -> None:
        """Predict over the flavor's Parquet snapshot, import and refresh every insight; prints the report."""
        from pipelines.common.logs import progress_bar
        from pipelines.convert.snapshot import products_path
        from pipelines.insights.job import run_refresh
        from pipelines.predictors.cli import _ocr_table

        chosen = _flavor(flavor)
        if not products_path(chosen).is_file():  # before ingesting an OCR archive for nothing
            missing = products_path(chosen)
            typer.echo(f"error: no Parquet table at {missing} (run `offpipe convert`)", err=True)
            sys.exit(1)
        table = _ocr_table(ocr, chosen) if ocr is not None and not no_predict else None
        with progress_bar("predicting", None) as advance:
            report = run_refresh(
                chosen,
                after_refresh=after_refresh,
                ocr_table=table,
                types=types or None,
                store=store,
                force=force,
                predict=not no_predict,
                all_images=all_images,
                progress=advance,
            )
        typer.echo(json.dumps(report, indent=2, default=str))

    return refresh


@contextmanager
def _read_only_store(
    store: str | None, *, server_type: str | None = None, barcodes: list[str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store opened for reading (PostgreSQL: the rows of ``barcodes``, or all); a clear error when it is
    missing or a writer has it open."""
    import duckdb

    from pipelines.store.db import StoreNotFoundError
    from pipelines.store.session import store_reader

    try:
        with store_reader(store, server_type=server_type, barcodes=barcodes) as con:
            yield con
    except StoreNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except duckdb.IOException as exc:  # another process has the DuckDB store open for writing
        typer.echo(f"error: cannot open the store: {exc}", err=True)
        sys.exit(1)


@insights_app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", "-o", help="File to write (replaced atomically)."),
    fmt: str = typer.Option(
        "parquet", "--format", "-f", help="parquet (data, bounding_box as JSON text) or jsonl."
    ),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Export every insight, one row each, with Robotoff's column names; prints what was written as JSON."""
    from pipelines.insights.export import export_insights
    from pipelines.store.export import ExportFormat

    try:
        chosen = ExportFormat(fmt)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown format {fmt!r} (parquet or jsonl)") from exc
    with _read_only_store(store) as con:
        report = export_insights(con, out, chosen)
    typer.echo(json.dumps(report.to_dict(), indent=2))


@insights_app.command("show")
def show_command(
    code: str = typer.Argument(..., help="The product's barcode (normalized as Product Opener does)."),
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff, opf or off_pro."),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Print a product's stored predictions and insights as JSON."""
    from pipelines.barcodes import InvalidBarcodeError, strict_code
    from pipelines.insights.export import product_records

    chosen = _flavor(flavor)
    try:  # the strict check: a code with stray characters is refused, not reduced to its digits
        barcode = strict_code(code)
    except InvalidBarcodeError as exc:
        raise typer.BadParameter(str(exc), param_hint="CODE") from exc
    with _read_only_store(store, server_type=chosen.value, barcodes=[barcode]) as con:
        records = product_records(con, barcode, chosen)
    typer.echo(json.dumps(records, indent=2, ensure_ascii=False, default=str))

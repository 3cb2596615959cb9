"""``offpipe predict``: every predictor over a flavor's snapshot (and OCR texts), imported into the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer


def _ocr_table(ocr: Path, flavor) -> Path:
    """An OCR-text Parquet table as given, or the table ingested from an OCR archive (.jsonl[.gz])."""
    if ocr.suffix == ".parquet":
        return ocr
    from pipelines.common.logs import progress_bar
    from pipelines.ocr.ingest import ingest_archive

    with progress_bar(f"ingesting {ocr.name}", None) as advance:
        report = ingest_archive(ocr, flavor=flavor, progress=advance)
    typer.echo(json.dumps({"ocr_ingest": report.to_dict()}, indent=2, default=str), err=True)
    return Path(report.output)


def predict_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    ocr: Path | None = typer.Option(
        None,
        "--ocr",
        help="OCR texts: a table from `offpipe ocr-ingest` (.parquet) or an OCR archive (.jsonl[.gz]).",
    ),
    types: list[str] | None = typer.Option(
        None, "--type", "-t", help="Prediction types to run (default: all)."
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Prediction store (default: $OFF_DATA_DIR/store.duckdb)."
    ),
    no_import: bool = typer.Option(
        False, "--no-import", help="Predict and count, but leave the store alone."
    ),
    all_images: bool = typer.Option(
        False,
        "--all-images",
        help="Predict every OCR image again, even those already predicted with the same OCR and lists.",
    ),
) -> None:
    """Predict over the flavor's latest Parquet snapshot; import the predictions in one transaction."""
    from pipelines.common.config import Flavor, get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.convert.snapshot import SnapshotNotFoundError
    from pipelines.predictors.bulk import run_predictions
    from pipelines.predictors.registry import UnknownPredictionTypeError

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    settings = get_settings()
    table = _ocr_table(ocr, chosen) if ocr is not None else None
    try:
        with progress_bar("predicting", None) as advance:
            report = run_predictions(
                chosen,
                ocr_table=table,
                types=types or None,
                store=store,
                settings=settings,
                import_into_store=not no_import,
                all_images=all_images,
                progress=advance,
            )
    except (SnapshotNotFoundError, UnknownPredictionTypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str))

"""``offpipe predict``: every predictor over a flavor's snapshot (and OCR texts), imported into the store."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _ocr_table(ocr: Path, flavor) -> Path:
    """The OCR texts to predict from (``ocr_texts_for``): an archive is ingested first, its report printed."""
    from pipelines.common.logs import progress_bar
    from pipelines.ocr.ingest import ocr_texts_for

    with progress_bar(f"ingesting {ocr.name}", None) as advance:
        table, report = ocr_texts_for(ocr, flavor, progress=advance)
    if report is not None:
        typer.echo(json.dumps({"ocr_ingest": report.to_dict()}, indent=2, default=str), err=True)
    return table


def predict_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    ocr: Path | None = typer.Option(
        None,
        "--ocr",
        help="OCR texts: a table from `offpipe ocr-ingest` (.parquet), the dataset folder of `offpipe"
        " ocr-sync`, or an OCR archive (.jsonl[.gz]).",
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
    from pipelines.predictors.bulk import run_predictions

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    settings = get_settings()
    table = _ocr_table(ocr, chosen) if ocr is not None else None
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
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str))

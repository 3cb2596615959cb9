"""``offpipe ocr-ingest``: an OCR archive → the flavor's OCR text table."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def ocr_ingest_command(
    archive: Path = typer.Argument(..., help="OCR archive (.jsonl or .jsonl.gz), one image per line."),
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    out: Path | None = typer.Option(
        None, "--out", help="Default: $OFF_DATA_DIR/parquet/<flavor>/ocr_texts.parquet."
    ),
    workers: int | None = typer.Option(None, min=1, help="Parsing processes (default: one per core)."),
) -> None:
    """Parse every OCR JSON of an archive with the SDK into Parquet (bad lines quarantined); prints the
    report as JSON."""
    from pipelines.common.config import Flavor, get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.ocr.ingest import ingest_archive

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    if not archive.is_file():
        raise typer.BadParameter(f"no such file: {archive}", param_hint="ARCHIVE")
    settings = get_settings()
    with progress_bar(f"ingesting {archive.name}", None) as advance:
        report = ingest_archive(archive, out, chosen, workers, settings=settings, progress=advance)
    typer.echo(json.dumps(report.to_dict(), indent=2))


def ocr_sync_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off (the bucket holds OFF's images only)."),
    prefix: str | None = typer.Option(None, "--prefix", help="Only barcodes starting with these digits."),
    keys: Path | None = typer.Option(
        None, "--keys", help="A local key list (data_keys.gz) instead of the bucket's own."
    ),
    workers: int = typer.Option(8, "--workers", min=1, help="Fetches in flight."),
) -> None:
    """Sync the OCR JSON of Open Food Facts' images bucket into $OFF_DATA_DIR/parquet/<flavor>/ocr_texts/
    (images already there are not fetched again; bad ones quarantined); prints the report as JSON."""
    from pipelines.common.config import get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.ocr.bucket import sync_bucket

    if keys is not None and not keys.is_file():
        raise typer.BadParameter(f"no such file: {keys}", param_hint="--keys")
    with progress_bar("fetching OCR from the images bucket", None) as advance:
        report = sync_bucket(
            flavor, settings=get_settings(), prefix=prefix, keys_file=keys, workers=workers, progress=advance
        )
    typer.echo(json.dumps(report.to_dict(), indent=2))

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

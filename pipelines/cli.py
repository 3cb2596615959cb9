"""The ``offpipe`` command line: one Typer app; each pipeline stage plugs its sub-commands in here.

Commands import their stage lazily, so ``offpipe --help`` stays fast and a stage's heavy dependencies load
only when one of its commands runs.
"""

from __future__ import annotations

import json
import re

import typer

from pipelines.audit.cli import audit_barcodes_command
from pipelines.convert.cli import convert_command
from pipelines.download.cli import download_command
from pipelines.insights.cli import insights_app, refresh_command
from pipelines.logs import configure_cli_logging
from pipelines.ocr.cli import ocr_ingest_command
from pipelines.predictors.cli import predict_command
from pipelines.reference.cli import reference_app
from pipelines.store.cli import predictions_app
from pipelines.synth.cli import synth_command

app = typer.Typer(
    name="offpipe",
    help="Batch insight pipeline for Open Food Facts: dumps, Parquet, predictions, insights, facets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
barcode_app = typer.Typer(help="Product Opener barcode rules (normalization, validation, image paths).")
app.add_typer(barcode_app, name="barcode")
app.add_typer(predictions_app, name="predictions")
app.add_typer(insights_app, name="insights")
app.add_typer(reference_app, name="reference")
app.command("synth")(synth_command)
app.command("download")(download_command)
app.command("convert")(convert_command)
app.command("audit-barcodes")(audit_barcodes_command)
app.command("ocr-ingest")(ocr_ingest_command)
app.command("predict")(predict_command)
app.command("refresh")(refresh_command)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    configure_cli_logging(verbose)


@barcode_app.command("normalize")
def barcode_normalize(
    codes: list[str] = typer.Argument(..., help="Raw codes, GS1 element strings or GS1 Digital Link URLs."),
    flavor: str = typer.Option("off", help="Flavor for the image URL: off, obf, opff, opf, off_pro."),
) -> None:
    """Print the normalized code, validity, folder and first-image URL of each code (one JSON line each)."""
    from pipelines import barcodes

    for raw in codes:
        info = barcodes.Barcode.parse(raw)
        line = {"raw": raw, "normalized": info.normalized, "valid": info.valid, "path": info.path}
        line["image_url"] = barcodes.image_url(raw, 1, flavor) if info.valid else None
        line["legacy_path"] = barcodes.legacy_split_code(raw)
        typer.echo(json.dumps(line))


@app.command("config")
def show_config() -> None:
    """Print the effective settings (secrets in URLs are masked)."""
    from pipelines.config import get_settings

    settings = get_settings()
    out = {
        "OFF_DATA_DIR": str(settings.data_dir),
        "OFF_ENVIRONMENT": settings.environment.value,
        "OFF_TAXONOMY_DIR": str(settings.taxonomy_dir),
        "OFF_KEYWORDS_DIR": str(settings.keywords_dir),
        "OFF_GRAMMARS_DIR": str(settings.grammars_dir),
        "OFF_TAXONOMY_URL": settings.taxonomy_url,
        "OFF_ROBOTOFF_DATA_URL": settings.robotoff_data_url,
        "OFF_ROBOTOFF_MEDIA_URL": settings.robotoff_media_url,
        "REDIS_URL": _mask(settings.redis_url),
        "MONGO_URI": _mask(settings.mongo_uri) if settings.mongo_uri else None,
        "urls": {flavor.value: vars(urls) for flavor, urls in settings.urls.items()},
    }
    typer.echo(json.dumps(out, indent=2))


def _mask(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

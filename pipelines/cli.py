"""The ``offpipe`` command line: one Typer app; each pipeline stage plugs its sub-commands in here.

Commands import their stage lazily, so ``offpipe --help`` stays fast and a stage's heavy dependencies load
only when one of its commands runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from pipelines.annotate.cli import annotate_command, apply_command
from pipelines.audit.cli import audit_barcodes_command
from pipelines.category_model.cli import category_app
from pipelines.common.errors import OffpipeError
from pipelines.common.logs import configure_cli_logging
from pipelines.convert.cli import convert_command
from pipelines.download.cli import download_command
from pipelines.facets.cli import facets_command
from pipelines.insights.cli import insights_app, refresh_command
from pipelines.listener.cli import listen_command
from pipelines.ocr.cli import ocr_ingest_command, ocr_sync_command
from pipelines.predictors.cli import predict_command
from pipelines.reference.cli import reference_app
from pipelines.store.cli import predictions_app, store_app
from pipelines.synth.cli import synth_command

if TYPE_CHECKING:
    import duckdb

    from pipelines.common.config import Flavor, Settings
    from pipelines.listener.loop import Dispatcher
    from pipelines.predictors.resources import Resources


def _replay_listener_log(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor,
    since: datetime,
    *,
    settings: Settings,
    resources: Resources,
) -> Mapping[str, Any]:
    """The listener's replay after a bulk refresh (``offpipe refresh``): wired here because the insight stage
    may not import the listener (docs/listener.md)."""
    from pipelines.listener.replay import replay_after_refresh

    return replay_after_refresh(con, flavor, since, settings=settings, resources=resources)


def _deployment_dispatcher(name: str) -> Dispatcher:
    """The listener's dispatch to a Prefect deployment: wired here because ``pipelines`` below this module
    never imports ``flows``."""
    from flows.listener import deployment_dispatcher

    return deployment_dispatcher(name)


class _OffpipeGroup(TyperGroup):
    """The root command group: an :class:`~pipelines.common.errors.OffpipeError` from any command (a stage's
    expected failure) is one line ``error: …`` on stderr and exit code 1 (``--verbose`` logs the traceback),
    so no command lists the error classes of its stage."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except OffpipeError as exc:
            logging.getLogger(__name__).debug("the command failed", exc_info=exc)
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=_OffpipeGroup,
    name="offpipe",
    help="Batch insight pipeline for Open Food Facts: dumps, Parquet, predictions, insights, facets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
barcode_app = typer.Typer(help="Product Opener barcode rules (normalization, validation, image paths).")
app.add_typer(barcode_app, name="barcode")
app.add_typer(predictions_app, name="predictions")
app.add_typer(store_app, name="store")
app.add_typer(insights_app, name="insights")
insights_app.command("apply")(apply_command)
insights_app.command("annotate")(annotate_command)
app.add_typer(reference_app, name="reference")
app.add_typer(category_app, name="category")
app.command("synth")(synth_command)
app.command("download")(download_command)
app.command("convert")(convert_command)
app.command("audit-barcodes")(audit_barcodes_command)
app.command("ocr-ingest")(ocr_ingest_command)
app.command("ocr-sync")(ocr_sync_command)
app.command("predict")(predict_command)
app.command("refresh")(refresh_command(after_refresh=_replay_listener_log))
app.command("listen")(listen_command(deployment_dispatcher=_deployment_dispatcher))
app.command("facets")(facets_command)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    configure_cli_logging(verbose)


@barcode_app.command("normalize")
def barcode_normalize(
    codes: list[str] = typer.Argument(..., help="Raw codes, GS1 element strings or GS1 Digital Link URLs."),
    flavor: str = typer.Option("off", help="Flavor for the image URL: off, obf, opff, opf, off_pro."),
) -> None:
    """Print the normalized code, validity, folder and first-image URL of each code (one JSON line each).

    ``normalized``, ``valid`` and ``path`` follow Product Opener's lenient rules (what it would store);
    ``accepted`` says whether the strict check for codes from outside (events, ``insights show``) takes the
    code, and only an accepted code gets an ``image_url``.
    """
    from pipelines import barcodes

    for raw in codes:
        info = barcodes.Barcode.parse(raw)
        accepted = barcodes.is_strict_code(raw)
        line = {"raw": raw, "normalized": info.normalized, "valid": info.valid, "path": info.path}
        line["accepted"] = accepted
        line["image_url"] = barcodes.image_url(barcodes.strict_code(raw), 1, flavor) if accepted else None
        line["legacy_path"] = barcodes.legacy_split_code(raw)
        typer.echo(json.dumps(line))


@app.command("nightly")
def nightly_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    url: str | None = typer.Option(
        None, "--url", help="Dump URL override: http(s), file:// or a path (default: Product Opener's dump)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Run every step on an unchanged dump; accept a shrinking snapshot; override the refresh's "
        "90% safety stop.",
    ),
    ocr: str | None = typer.Option(
        None,
        "--ocr",
        help="OCR texts to predict from: an OCR-text table (.parquet), a dataset folder, an archive "
        "(.jsonl[.gz]), or 'bucket' (sync OFF's images bucket first and predict from its dataset).",
    ),
    min_lines: int | None = typer.Option(
        None,
        "--min-lines",
        help="Floor of the dump's lines and the snapshot's rows (default: per flavor; 0 = none).",
    ),
    no_facets: bool = typer.Option(False, "--no-facets", help="Skip the MongoDB quality-facet step."),
    facets_dry_run: bool = typer.Option(
        False, "--facets-dry-run", help="Write the facet plan only (also the case without MONGO_URI)."
    ),
) -> None:
    """The nightly job as a Prefect flow: download, convert, audit, predict, refresh, facets.

    Without PREFECT_API_URL the flow runs on Prefect's ephemeral local API; with it, the run shows in that
    server's UI with its subflows and artifacts.
    """
    from flows.nightly import nightly
    from pipelines.common.config import Flavor

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}", param_hint="--flavor") from exc
    summary = nightly(
        flavor=chosen.value,
        url=url,
        force=force,
        min_lines=min_lines,
        ocr=ocr,
        facets=not no_facets,
        facets_dry_run=facets_dry_run,
    )
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command("ocr-pass")
def ocr_pass_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off (the bucket holds OFF's images only)."),
    no_sync: bool = typer.Option(False, "--no-sync", help="Predict from the OCR dataset as it is."),
    keys: Path | None = typer.Option(None, "--keys", help="A local key list instead of the bucket's own."),
    prefix: str | None = typer.Option(None, "--prefix", help="Only barcodes starting with these digits."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Run the shards on a local Dask cluster of this many processes."
    ),
    dask_address: str | None = typer.Option(
        None, "--dask-address", help="Run the shards on this Dask scheduler (default: OFF_DASK_ADDRESS)."
    ),
    store: str | None = typer.Option(None, "--store", help="The store (default: OFF_STORE_URL or the file)."),
    shard_keys: int | None = typer.Option(None, "--shard-keys", min=1, help="OCR keys per sync shard."),
    shard_images: int | None = typer.Option(
        None, "--shard-images", min=1, help="Images to predict per predict shard."
    ),
) -> None:
    """The OCR pass in shards of barcode prefix, as a Prefect flow: sync the images bucket into the OCR
    dataset, predict its pending images, import them (docs/scale-out.md). Prints the reports as JSON."""
    from flows.ocr import run_ocr_pass
    from pipelines.common.config import Flavor

    if Flavor(flavor) is not Flavor.off and not no_sync:
        raise typer.BadParameter(
            "the images bucket holds Open Food Facts' images only", param_hint="--flavor"
        )
    if prefix is not None and not (prefix.isascii() and prefix.isdigit()):
        raise typer.BadParameter(f"digits only, not {prefix!r}", param_hint="--prefix")
    if keys is not None and not keys.is_file():
        raise typer.BadParameter(f"no such file: {keys}", param_hint="--keys")
    summary = run_ocr_pass(
        workers=workers,
        address=dask_address,
        flavor=Flavor(flavor).value,
        sync=not no_sync,
        keys=str(keys) if keys else None,
        prefix=prefix,
        store=store,
        shard_keys=shard_keys,
        shard_images=shard_images,
    )
    typer.echo(json.dumps(summary, indent=2, default=str))


def _deployments(flavors: list[str] | None, hour: int, minute: int, timezone: str) -> list:
    from flows.deployments import build_deployments
    from pipelines.common.config import Flavor, get_settings

    try:
        chosen = [Flavor(f) for f in flavors or ["off"]]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--flavor") from exc
    try:
        return build_deployments(
            chosen, hour=hour, minute=minute, timezone=timezone, nightly_ocr=get_settings().nightly_ocr
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


_FLAVORS_OPTION = typer.Option(None, "--flavor", "-f", help="Flavors to deploy (repeat; default: off).")
_HOUR_OPTION = typer.Option(3, "--hour", min=0, max=23, help="Hour of the nightly run.")
_MINUTE_OPTION = typer.Option(0, "--minute", min=0, max=59, help="Minute of the nightly run.")
_TIMEZONE_OPTION = typer.Option("Europe/Paris", "--timezone", help="Time zone of the nightly schedule.")


@app.command("deploy")
def deploy_command(
    flavors: list[str] | None = _FLAVORS_OPTION,
    hour: int = _HOUR_OPTION,
    minute: int = _MINUTE_OPTION,
    timezone: str = _TIMEZONE_OPTION,
) -> None:
    """Register the Prefect deployments (nightly on a cron, refresh, facets) with PREFECT_API_URL."""
    from flows.deployments import apply_deployments

    deployments = _deployments(flavors, hour, minute, timezone)
    ids = apply_deployments(deployments)
    out = [{"name": d.name, "flow": d.flow_name, "id": str(i)} for d, i in zip(deployments, ids, strict=True)]
    typer.echo(json.dumps(out, indent=2))


@app.command("serve")
def serve_command(
    flavors: list[str] | None = _FLAVORS_OPTION,
    hour: int = _HOUR_OPTION,
    minute: int = _MINUTE_OPTION,
    timezone: str = _TIMEZONE_OPTION,
) -> None:
    """Register the deployments and run their scheduled and manual runs from this process until stopped."""
    from flows.deployments import serve_deployments

    serve_deployments(_deployments(flavors, hour, minute, timezone))


@app.command("config")
def show_config() -> None:
    """Print the effective settings (secrets in URLs are masked)."""
    from pipelines.common.config import get_settings

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
        "MONGO_DB": settings.mongo_db,
        "MONGO_COLLECTION": settings.mongo_collection,
        "OFF_STORE_URL": _mask(settings.store_url) if settings.store_url else None,
        "OFF_USER": settings.write_user,
        "OFF_APPLY_MODE": settings.apply_mode,
        "OFF_OCR_BUCKET_URL": settings.ocr_bucket_url,
        "OFF_NIGHTLY_OCR": settings.nightly_ocr,
        "OFF_DASK_ADDRESS": _mask(settings.dask_address) if settings.dask_address else None,
        "store": _mask(settings.store_url)
        if settings.store_url and "://" in settings.store_url
        else str(settings.store_path),
        "urls": {flavor.value: vars(urls) for flavor, urls in settings.urls.items()},
    }
    typer.echo(json.dumps(out, indent=2))


def _mask(url: str) -> str:
    from pipelines.store.target import mask_url

    return mask_url(url)


def main() -> None:
    """Console-script entry point. A stage's :class:`~pipelines.common.errors.OffpipeError` is handled by the
    root group (one line, exit code 1). An error of the environment — an ``OSError`` (read-only folder, full
    disk, a path through a file, a network failure) or a DuckDB storage error — ends any command with one line
    ``error: …`` on stderr and exit code 1 instead of a traceback (``--verbose`` logs the traceback too).
    Usage errors stay Typer's own (exit code 2)."""
    try:
        app()
    except Exception as exc:
        if not _environment_error(exc):
            raise
        logging.getLogger(__name__).debug("the command failed", exc_info=exc)
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        sys.exit(1)


def _environment_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    if "duckdb" not in sys.modules:  # no command that used DuckDB ran: not one of its errors
        return False
    from pipelines.store.db import is_storage_error

    return is_storage_error(exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    main()

"""``offpipe category train`` and ``offpipe category evaluate``: the category classifier from the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

category_app = typer.Typer(help="The category classifier: train it from the snapshot, evaluate it.")


def _flavor(value: str):
    from pipelines.common.config import Flavor

    try:
        return Flavor(value)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {value!r}") from exc


@category_app.command("train")
def train_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="Snapshot to train on (off, obf, opff, opf)."),
    min_products: int = typer.Option(
        200, "--min-products", min=1, help="Training products a category needs."
    ),
    max_products: int = typer.Option(
        1_000_000, "--max-products", min=1, help="Training sample size, at most."
    ),
    epochs: int = typer.Option(4, "--epochs", min=1),
    dim: int = typer.Option(64, "--dim", min=1, help="Embedding size."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train on the flavor's latest Parquet snapshot, evaluate on its held-out products, save the model under
    $OFF_DATA_DIR/models/category/<version>/ and make it the latest; prints its card as JSON."""
    from pipelines.category_model.from_snapshot import train_from_snapshot
    from pipelines.category_model.train import TrainConfig
    from pipelines.common.config import get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.convert.snapshot import existing_snapshot, snapshot_etag

    chosen = _flavor(flavor)
    settings = get_settings()
    config = TrainConfig(
        min_products=min_products, max_products=max_products, epochs=epochs, dim=dim, seed=seed
    )
    snapshot = existing_snapshot(chosen, settings)
    with progress_bar("reading the snapshot", None) as advance:
        _, card = train_from_snapshot(
            snapshot,
            settings.category_models_dir,
            config=config,
            flavor=chosen.value,
            dump_etag=snapshot_etag(chosen, settings),
            progress=advance,
        )
    typer.echo(json.dumps(card, indent=2, default=str))


@category_app.command("evaluate")
def evaluate_command(
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the latest trained)."),
    flavor: str = typer.Option("off", "--flavor", "-f", help="Snapshot whose held-out products are used."),
) -> None:
    """The quality report of a model (run through onnxruntime) on the snapshot's held-out products."""
    from pipelines.category_model.classifier import latest_model
    from pipelines.category_model.from_snapshot import evaluate_model
    from pipelines.common.config import get_settings
    from pipelines.convert.snapshot import existing_snapshot

    chosen = _flavor(flavor)
    settings = get_settings()
    folder = model or latest_model(settings.category_models_dir)
    if folder is None:
        typer.echo(
            f"error: no model under {settings.category_models_dir}: run `offpipe category train`", err=True
        )
        sys.exit(1)
    report = evaluate_model(folder, existing_snapshot(chosen, settings))
    typer.echo(json.dumps({"model": str(folder)} | report, indent=2, default=str))

"""Prefect flow of the category model: weekly training from the latest snapshot, with its quality report.

Thin wrapper over ``pipelines.category_model``: the task trains, evaluates and saves the model (it becomes
the one the nightly prediction uses: ``LATEST``), and the flow publishes the report as a markdown artifact
keyed ``category-model-<flavor>``.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.category_model.report import report_markdown
from pipelines.category_model.train import TrainConfig


@task(cache_policy=NO_CACHE)
def train_task(flavor: str, min_products: int, max_products: int, epochs: int, seed: int) -> dict:
    from pipelines.category_model.from_snapshot import train_from_snapshot
    from pipelines.common.config import get_settings
    from pipelines.convert.snapshot import existing_snapshot, snapshot_etag

    settings = get_settings()
    config = TrainConfig(min_products=min_products, max_products=max_products, epochs=epochs, seed=seed)
    _, card = train_from_snapshot(
        existing_snapshot(flavor, settings),
        settings.category_models_dir,
        config=config,
        flavor=flavor,
        dump_etag=snapshot_etag(flavor, settings),
    )
    return card


@flow(name="train_category_model", flow_run_name="category-model-{flavor}")
def train_category_model(
    flavor: str = "off",
    min_products: int = TrainConfig.min_products,
    max_products: int = TrainConfig.max_products,
    epochs: int = TrainConfig.epochs,
    seed: int = TrainConfig.seed,
) -> dict:
    """Train the category classifier on ``flavor``'s latest snapshot and publish its quality report."""
    card = train_task(flavor, min_products, max_products, epochs, seed)
    get_run_logger().info("category model %s: micro-F1 %.3f", card["version"], card["metrics"]["micro_f1"])
    create_markdown_artifact(
        report_markdown(card), key=f"category-model-{flavor}", description=f"{flavor} category model quality"
    )
    return card

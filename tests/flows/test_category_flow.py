"""The ``train_category_model`` flow on a real Prefect API: the model is trained and saved as the latest, and
its quality report is published as a markdown artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.flows.artifacts import artifact

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_flow_trains_saves_and_publishes_the_report(data_dir: Path, synthetic_50k: dict[str, Path]) -> None:
    from flows.category import train_category_model
    from pipelines.category_model.classifier import latest_model
    from pipelines.common.config import get_settings

    folder = data_dir / "parquet" / "off"
    folder.mkdir(parents=True)
    shutil.copy(synthetic_50k["small_products"], folder / "products.parquet")
    card = train_category_model(flavor="off", min_products=20, epochs=2)
    model = latest_model(get_settings().category_models_dir)
    assert model is not None and model.name == card["version"]
    markdown = artifact("category-model-off")[0].data
    assert f"# Category model `{card['version']}`" in markdown
    assert f"| F1 | {card['metrics']['micro_f1']:.3f} |" in markdown
    assert "## Worst categories" in markdown and markdown.count("| `en:") >= 2

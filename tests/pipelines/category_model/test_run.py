"""Training from a snapshot end to end: the synthetic dump's planted categories are learnt (micro-F1 ≥ 0.8 on
held-out products), the saved model evaluates the same through onnxruntime, the real sample gets its report,
and the CLI trains, evaluates and makes the model the one the prediction engine uses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.category_model.classifier import CARD_FILE, LABELS_FILE, MODEL_FILE, latest_model
from pipelines.category_model.from_snapshot import evaluate_model, train_from_snapshot
from pipelines.category_model.train import NoLabelsError, TrainConfig
from pipelines.cli import app
from pipelines.common.config import get_settings
from pipelines.convert.convert import convert_dump
from pipelines.predictors.resources import default_resources

runner = CliRunner()
FAST = TrainConfig(epochs=4, min_products=200)  # the defaults but the sample size


@pytest.fixture(scope="module")
def trained(synthetic_50k: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("models")
    return train_from_snapshot(synthetic_50k["products"], root, config=FAST, dump_etag='"abc"')


def test_planted_categories_are_learnt(trained: tuple[Path, dict]) -> None:
    folder, card = trained
    metrics = card["metrics"]
    assert metrics["micro_f1"] >= 0.8, metrics
    assert metrics["precision_at_1"] >= 0.8 and 0 < metrics["coverage"] <= 1
    assert card["held_out_products"] > 1000 and card["training_products"] > 10 * card["held_out_products"] / 2
    assert card["dump_etag"] == '"abc"' and card["flavor"] == "off" and card["categories"] > 20
    assert len(metrics["best"]) == len(metrics["worst"]) == 20
    assert {MODEL_FILE, LABELS_FILE, CARD_FILE} <= {p.name for p in folder.iterdir()}
    assert len(json.loads((folder / LABELS_FILE).read_text())) == card["categories"]


def test_the_saved_model_evaluates_as_it_was_trained(trained: tuple[Path, dict], synthetic_50k) -> None:
    folder, card = trained
    report = evaluate_model(folder, synthetic_50k["products"])
    for key in ("micro_f1", "macro_f1", "precision_at_1", "coverage"):
        assert report[key] == pytest.approx(card["metrics"][key], abs=2e-3), key  # onnxruntime = numpy


def test_the_real_sample_gets_a_report(real_off_sample: Path, tmp_path: Path) -> None:
    convert_dump(real_off_sample, "off", out_dir=tmp_path / "parquet")
    snapshot = tmp_path / "parquet" / "products.parquet"
    _, card = train_from_snapshot(
        snapshot, tmp_path / "models", config=TrainConfig(epochs=2, min_products=10, holdout=0.2)
    )
    assert card["categories"] > 0 and card["held_out_products"] > 0
    assert {"micro_precision", "micro_recall", "micro_f1", "macro_f1", "precision_at_1", "coverage"} <= set(
        card["metrics"]
    )
    with pytest.raises(NoLabelsError, match="no category has 100000 training products"):
        train_from_snapshot(snapshot, tmp_path / "models", config=TrainConfig(min_products=100_000))


def test_cli_trains_evaluates_and_the_engine_picks_the_latest(
    data_dir: Path, synthetic_50k: dict[str, Path], keywords_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = data_dir / "parquet" / "off"
    folder.mkdir(parents=True)
    shutil.copy(synthetic_50k["small_products"], folder / "products.parquet")
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    result = runner.invoke(app, ["category", "train", "--min-products", "20", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout[result.stdout.index("{") :])
    settings = get_settings()
    model = latest_model(settings.category_models_dir)
    assert model is not None and model.name == card["version"]
    evaluated = runner.invoke(app, ["category", "evaluate"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout[evaluated.stdout.index("{") :])
    assert report["model"] == str(model) and report["micro_f1"] == pytest.approx(
        card["metrics"]["micro_f1"], abs=2e-3
    )
    assert default_resources().category_classifier.version == card["version"]
    monkeypatch.setenv("OFF_CATEGORY_MODEL", "off")
    assert default_resources().category_classifier is None


def test_cli_without_a_snapshot_or_a_model_says_so(data_dir: Path) -> None:
    result = runner.invoke(app, ["category", "train"])
    assert result.exit_code == 1 and "snapshot" in result.output
    result = runner.invoke(app, ["category", "evaluate"])
    assert result.exit_code == 1 and "offpipe category train" in result.output

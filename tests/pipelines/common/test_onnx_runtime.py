"""Nothing is written outside $OFF_DATA_DIR (``docs/reliability.md`` F42): onnxruntime's telemetry wrote a
device id and a SQLite file under $HOME/.cache at import, creating $HOME; Prefect creates ~/.prefect at
import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Runs in a fresh interpreter: every pipelines module imported, both ONNX paths run (the Nutri-Score
# detector and the category classifier, on models built here), a DuckDB store opened, then every flows
# module imported (Prefect).
SCRIPT = r"""
import importlib, json, pkgutil, sys
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa

work = Path(sys.argv[1])
import pipelines
for info in pkgutil.walk_packages(pipelines.__path__, "pipelines."):
    importlib.import_module(info.name)
report = {"prefect_imported_by_pipelines": "prefect" in sys.modules}

from tests.support.onnx_models import solid_image, yolo_nutriscore_model
from pipelines.predictors.rules.nutriscore import NutriscoreDetector
detector = NutriscoreDetector(yolo_nutriscore_model(work / "nutriscore.onnx")).load()
report["nutriscore"] = [d.label for d in detector.detect(solid_image((255, 0, 0)))]

from pipelines.category_model.classifier import CategoryClassifier
from pipelines.category_model.features import DEFAULT_VOCAB_SIZE, FEATURES, token_id
from pipelines.category_model.model import CategoryModel, to_onnx
from pipelines.convert.schema import PRODUCT_SCHEMA
embeddings = np.zeros((DEFAULT_VOCAB_SIZE, 2), dtype=np.float32)
embeddings[token_id("n:nutella")] = [1.0, 0.0]
weights = np.zeros((2 + FEATURES, 1), dtype=np.float32)
weights[0, 0] = 12.0
folder = work / "category-model"
folder.mkdir()
model = CategoryModel(embeddings, weights, np.full(1, -5.0, dtype=np.float32))
onnx.save_model(to_onnx(model), folder / "model.onnx")
(folder / "labels.json").write_text(json.dumps(["en:spreads"]))
names = ["normalized_code", "product_type", "product_name", "ingredients_original_tags", "nutriments"]
products = pa.Table.from_pylist(
    [{"normalized_code": "3017620422003", "product_type": "food",
      "product_name": [{"lang": "main", "text": "Nutella"}]}],
    schema=pa.schema([PRODUCT_SCHEMA.field(name) for name in names]),
)
table = CategoryClassifier.load(folder).predictions(products, server_type="off")
report["category"] = table.column("value_tag").to_pylist()

from pipelines.store.db import open_store
open_store(work / "data" / "store.duckdb").close()

import flows
for info in pkgutil.walk_packages(flows.__path__, "flows."):
    importlib.import_module(info.name)
import prefect.settings
report["prefect_home"] = str(prefect.settings.PREFECT_HOME.value())
print(json.dumps(report))
"""


def test_onnx_paths_and_flows_write_nothing_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"  # never created: whatever creates it writes outside $OFF_DATA_DIR
    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "PREFECT_", "ORT_")) and k not in {"HOME", "OFF_DATA_DIR"}
    }
    env |= {"HOME": str(home), "OFF_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-B", "-c", SCRIPT, str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["nutriscore"] == ["nutriscore-a"]  # the paths did run
    assert report["category"] == ["en:spreads"]
    assert report["prefect_imported_by_pipelines"] is False  # pipelines/ is importable without Prefect
    assert not home.exists(), sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert report["prefect_home"] == str(work / "data" / "prefect")


def test_nothing_imports_onnxruntime_but_the_shared_module() -> None:
    """Telemetry is switched off before the import in one place; a direct import elsewhere may come first."""
    direct = re.compile(r"^\s*(?:import onnxruntime|from onnxruntime[ .])", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("pipelines", "flows", "tests", "bench")
        for path in (REPO / folder).rglob("*.py")
        if path.name != "onnx_runtime.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []

"""A trained model on disk, loaded into onnxruntime, turned into ``category`` predictions.

A model folder (``$OFF_DATA_DIR/models/category/<version>/``) holds ``model.onnx``, ``labels.json`` (the
category ids, in the order of the model's output) and ``card.json`` (how and on what it was trained, its
threshold, its metrics). ``LATEST`` beside the versions names the current one. A bring-your-own model needs
only ``model.onnx`` and ``labels.json`` with the contract of :mod:`pipelines.category_model.model`; its
version is then the folder's name and its threshold 0.5.

Predictions follow Robotoff's post-processing of its neural classifier
(``robotoff/prediction/category/neural/keras_category_classifier_3_0/__init__.py``): categories scoring at
least the threshold, best first, ``en:meats-and-their-products`` skipped; type ``category``, value_tag the
id, confidence the score, never automatic, no image. The category importer then drops categories the product
has, their ancestors, and non-taxonomy ids (``CategoryImporter``, ``robotoff/insights/importer.py``).

Inference runs in chunks; inside a chunk, products are grouped by token count and each group is cut to its
longest row, so the graph gathers few padding embeddings (most products have a dozen tokens of 64).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import polars as pl
import pyarrow as pa

from pipelines.category_model.features import DEFAULT_VOCAB_SIZE, FEATURES, MAX_TOKENS, Inputs, build_inputs
from pipelines.category_model.metrics import THRESHOLD
from pipelines.category_model.model import INPUT_FEATURES, INPUT_TOKENS, OUTPUT_SCORES
from pipelines.common import files
from pipelines.common.errors import OffpipeError
from pipelines.common.onnx_runtime import ort, ort_state
from pipelines.store.schema import PREDICTION_SCHEMA

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"
CARD_FILE = "card.json"
LATEST_FILE = "LATEST"
PREDICTOR = "category-model"
SKIPPED = frozenset({"en:meats-and-their-products"})  # Robotoff skips it (category/neural/__init__.py)
CHUNK_ROWS = 65_536
_LENGTH_BUCKETS = (4, 8, 12, 16, 24, 32, 48, MAX_TOKENS)


_ORT_ERRORS = tuple(
    getattr(ort_state, name)
    for name in ("Fail", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "RuntimeException")
    if hasattr(ort_state, name)
)  # onnxruntime's load errors derive from Exception only


class CategoryModelError(OffpipeError, ValueError):
    """A model folder that cannot be used: files missing or unreadable, or not the expected signature."""


def save_model(root: Path, version: str, model: onnx.ModelProto, labels: list[str], card: dict) -> Path:
    """Write ``root/<version>/`` (temporary folder, then rename) and point ``LATEST`` at it."""
    target = root / version
    tmp = root / f".{version}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        onnx.save_model(model, tmp / MODEL_FILE)
        (tmp / LABELS_FILE).write_text(json.dumps(labels, ensure_ascii=False, indent=0))
        (tmp / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2, default=str))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files.write_text(root / LATEST_FILE, version + "\n")
    return target


def latest_model(root: Path) -> Path | None:
    """The folder ``LATEST`` names under ``root``, if any."""
    try:
        version = (root / LATEST_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    folder = root / version
    return folder if version and "/" not in version and folder.is_dir() else None


@dataclass
class CategoryClassifier:
    """A loaded model: the onnxruntime session, its labels, threshold and version."""

    session: ort.InferenceSession
    labels: list[str]
    version: str
    threshold: float = THRESHOLD
    vocab_size: int | None = None  # from the card; a bring-your-own model must hash like ours
    server_type: str = "off"  # the products it is for (the card's flavor; Robotoff's classifier: food only)

    @classmethod
    def load(cls, folder: Path | str) -> CategoryClassifier:
        """Load and check a model folder (:class:`CategoryModelError` says what is wrong)."""
        folder = Path(folder)
        try:
            labels = json.loads((folder / LABELS_FILE).read_text())
            card = json.loads((folder / CARD_FILE).read_text()) if (folder / CARD_FILE).is_file() else {}
            session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
        except (OSError, ValueError, *_ORT_ERRORS) as exc:
            raise CategoryModelError(f"{folder}: cannot load the category model: {exc}") from exc
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise CategoryModelError(f"{folder / LABELS_FILE}: expected a JSON list of category ids")
        _check_signature(session, len(labels), folder)
        return cls(
            session=session,
            labels=labels,
            version=str(card.get("version") or folder.name),
            threshold=float(card.get("threshold", THRESHOLD)),
            vocab_size=card.get("vocab_size"),
            server_type=str(card.get("flavor") or "off"),
        )

    def scores(self, inputs: Inputs) -> np.ndarray:
        """Scores [products, categories], in the input's row order."""
        out = np.empty((inputs.rows, len(self.labels)), dtype=np.float32)
        lengths = (inputs.tokens > 0).sum(axis=1)
        buckets = np.searchsorted(_LENGTH_BUCKETS, lengths)  # rows of ≤ 4 tokens, ≤ 8, …
        for start in range(0, inputs.rows, CHUNK_ROWS):
            rows = np.arange(start, min(start + CHUNK_ROWS, inputs.rows))
            for bucket in np.unique(buckets[rows]):
                group = rows[buckets[rows] == bucket]
                width = max(int(lengths[group].max()), 1)
                feed = {
                    INPUT_TOKENS: np.ascontiguousarray(inputs.tokens[group, :width]),
                    INPUT_FEATURES: inputs.features[group],
                }
                out[group] = self.session.run([OUTPUT_SCORES], feed)[0]
        return out

    def predictions(self, products: pa.Table | pl.DataFrame, *, server_type: str) -> pa.Table:
        """The ``category`` predictions of every row of ``products`` (the snapshot's columns, or any table
        with ``barcode`` or ``normalized_code`` and the input columns)."""
        if len(products) == 0:
            return PREDICTION_SCHEMA.empty_table()
        inputs = build_inputs(products, vocab_size=self.vocab_size or DEFAULT_VOCAB_SIZE)
        names = products.column_names if isinstance(products, pa.Table) else products.columns
        key = "barcode" if "barcode" in names else "normalized_code"
        codes = products.column(key) if isinstance(products, pa.Table) else products[key].to_arrow()
        return self.predictions_from_scores(codes, self.scores(inputs), server_type=server_type)

    def predictions_from_scores(
        self, barcodes: pa.ChunkedArray | pa.Array, scores: np.ndarray, *, server_type: str
    ) -> pa.Table:
        """Rows ≥ threshold, per product best first, skipped categories left out; products without a
        barcode give nothing."""
        codes = barcodes.combine_chunks() if isinstance(barcodes, pa.ChunkedArray) else barcodes
        keep = scores >= self.threshold
        keep[:, [i for i, label in enumerate(self.labels) if label in SKIPPED]] = False
        keep &= codes.is_valid().to_numpy(zero_copy_only=False)[:, None]
        rows, columns = np.nonzero(keep)
        confidence = scores[rows, columns].astype(np.float64)
        order = np.lexsort((-confidence, rows))  # per product, best first
        rows, columns, confidence = rows[order], columns[order], confidence[order]
        count = len(rows)
        return pa.table(
            {
                "type": _repeat("category", count),
                "barcode": codes.take(pa.array(rows, pa.int64())),
                "server_type": _repeat(server_type, count),
                "value": pa.nulls(count, pa.string()),
                "value_tag": _dictionary(columns, self.labels),
                "data": _repeat("{}", count),
                "automatic_processing": pa.array(np.zeros(count, dtype=bool)),
                "predictor": _repeat(PREDICTOR, count),
                "predictor_version": _repeat(self.version, count),
                "source_image": pa.nulls(count, pa.string()),
                "confidence": pa.array(confidence, pa.float64()),
            }
        ).cast(PREDICTION_SCHEMA)


def _dictionary(indices: np.ndarray, values: list[str]) -> pa.Array:
    """``values[indices]`` as a string array, built by Arrow (no Python list of millions of strings)."""
    encoded = pa.DictionaryArray.from_arrays(
        pa.array(indices.astype(np.int32)), pa.array(values, pa.string())
    )
    return encoded.cast(pa.string())


def _repeat(value: str, count: int) -> pa.Array:
    return _dictionary(np.zeros(count, dtype=np.int32), [value])


def _check_signature(session: ort.InferenceSession, labels: int, folder: Path) -> None:
    """The contract of :mod:`pipelines.category_model.model`; dynamic dimensions are accepted."""

    def fixed(dim: object, expected: int) -> bool:
        return not isinstance(dim, int) or dim == expected

    inputs = {i.name: i for i in session.get_inputs()}
    outputs = session.get_outputs()
    problems = []
    if set(inputs) != {INPUT_TOKENS, INPUT_FEATURES}:
        problems.append(f"inputs {sorted(inputs)} (expected {INPUT_TOKENS}, {INPUT_FEATURES})")
    else:
        tokens, features = inputs[INPUT_TOKENS], inputs[INPUT_FEATURES]
        if tokens.type != "tensor(int64)" or len(tokens.shape) != 2:
            problems.append(f"{INPUT_TOKENS} is {tokens.type} {tokens.shape} (expected int64 [N, L])")
        if (
            features.type != "tensor(float)"
            or len(features.shape) != 2
            or not fixed(features.shape[1], FEATURES)
        ):
            problems.append(
                f"{INPUT_FEATURES} is {features.type} {features.shape} (expected float [N, {FEATURES}])"
            )
    if len(outputs) != 1 or outputs[0].name != OUTPUT_SCORES or outputs[0].type != "tensor(float)":
        problems.append(f"outputs {[o.name for o in outputs]} (expected one float tensor {OUTPUT_SCORES})")
    elif len(outputs[0].shape) != 2 or not fixed(outputs[0].shape[1], labels):
        problems.append(f"{OUTPUT_SCORES} has shape {outputs[0].shape}, the labels file {labels} categories")
    if problems:
        raise CategoryModelError(f"{folder / MODEL_FILE}: not a category model: " + "; ".join(problems))

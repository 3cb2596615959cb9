"""Train a category model from a Parquet snapshot, evaluate it, save it; evaluate a saved model.

Two passes over the snapshot, in record batches (a 4M-product snapshot never sits in memory):

1. ``normalized_code`` and ``categories_tags`` only: which products have categories, which are held out
   (barcode hash, :func:`pipelines.category_model.train.held_out`), and how many training candidates there
   are, so that a deterministic per-barcode draw keeps at most ``max_products`` of them;
2. the model's input columns for the chosen products only: token ids and features
   (:func:`pipelines.category_model.features.build_inputs`, the function inference uses).

The held-out products (at most :data:`EVAL_MAX` of them) give the quality report; products without
categories (at most :data:`EVAL_MAX`) give the coverage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.category_model.classifier import CategoryClassifier, save_model
from pipelines.category_model.features import FEATURES, INPUT_COLUMNS, MAX_TOKENS, Inputs, build_inputs
from pipelines.category_model.metrics import THRESHOLD, quality
from pipelines.category_model.model import to_onnx
from pipelines.category_model.train import (
    NoLabelsError,
    Targets,
    TrainConfig,
    choose_labels,
    held_out,
    label_matrix,
    train,
)

logger = logging.getLogger(__name__)

EVAL_MAX = 100_000
READ_BATCH_ROWS = 65_536
_TRAIN, _HELD, _UNCATEGORIZED = 1, 2, 3


@dataclass
class Sample:
    """The chosen products' inputs and categories, per role."""

    inputs: dict[int, list[Inputs]] = field(
        default_factory=lambda: {_TRAIN: [], _HELD: [], _UNCATEGORIZED: []}
    )
    categories: dict[int, list[pl.Series]] = field(default_factory=lambda: {_TRAIN: [], _HELD: []})

    def stacked(self, role: int) -> Inputs:
        parts = self.inputs[role]
        if not parts:
            return Inputs(np.zeros((0, MAX_TOKENS), np.int64), np.zeros((0, FEATURES), np.float32))
        return Inputs(np.concatenate([p.tokens for p in parts]), np.concatenate([p.features for p in parts]))

    def categories_of(self, role: int) -> pl.Series:
        parts = self.categories[role]
        return pl.concat(parts) if parts else pl.Series([], dtype=pl.List(pl.String))


def _uniform(codes: list[str | None], salt: str) -> np.ndarray:
    """A per-barcode draw in [0, 1), stable across runs and releases (salted BLAKE2b)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(f"{salt}:{code}".encode(), digest_size=8).digest(), "little")
            / 2**64
            for code in codes
        ),
        dtype=np.float64,
        count=len(codes),
    )


def _roles(
    codes: list[str | None], categorized: np.ndarray, config: TrainConfig, rates: dict[int, float]
) -> np.ndarray:
    """Each product's role (0 = unused) from its barcode: held out, training, or uncategorized."""
    valid = np.array([code is not None for code in codes])
    held = held_out([code or "" for code in codes], config.holdout)
    draw = _uniform(codes, f"sample:{config.seed}")
    roles = np.zeros(len(codes), dtype=np.int8)
    roles[valid & categorized & ~held & (draw < rates.get(_TRAIN, 1.0))] = _TRAIN
    roles[valid & categorized & held & (draw < rates.get(_HELD, 1.0))] = _HELD
    roles[valid & ~categorized & (draw < rates.get(_UNCATEGORIZED, 1.0))] = _UNCATEGORIZED
    return roles


def _categorized(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    lengths = pl.from_arrow(column).list.len().fill_null(0)  # type: ignore[union-attr]
    return (lengths > 0).to_numpy()


def _rates(snapshot: Path, config: TrainConfig) -> dict[int, float]:
    """Pass 1: the thinning rates that keep at most max_products training and EVAL_MAX evaluation products."""
    counts = {_TRAIN: 0, _HELD: 0, _UNCATEGORIZED: 0}
    for batch in pq.ParquetFile(snapshot).iter_batches(
        READ_BATCH_ROWS, columns=["normalized_code", "categories_tags"]
    ):
        codes = batch.column("normalized_code").to_pylist()
        roles = _roles(codes, _categorized(batch.column("categories_tags")), config, {})
        for role in counts:
            counts[role] += int((roles == role).sum())
    limits = {_TRAIN: config.max_products, _HELD: EVAL_MAX, _UNCATEGORIZED: EVAL_MAX}
    return {role: min(1.0, limits[role] / counts[role]) if counts[role] else 1.0 for role in counts}


def read_sample(snapshot: Path, config: TrainConfig, progress: Callable[[int], None] | None = None) -> Sample:
    """Both passes: the chosen products' inputs and categories."""
    rates = _rates(snapshot, config)
    sample = Sample()
    columns = ["normalized_code", "categories_tags", *INPUT_COLUMNS]
    present = [c for c in columns if c in pq.ParquetFile(snapshot).schema_arrow.names]
    for batch in pq.ParquetFile(snapshot).iter_batches(READ_BATCH_ROWS, columns=present):
        table = pa.Table.from_batches([batch])
        roles = _roles(
            table.column("normalized_code").to_pylist(),
            _categorized(table.column("categories_tags")),
            config,
            rates,
        )
        for role in (_TRAIN, _HELD, _UNCATEGORIZED):
            chosen = table.take(pa.array(np.flatnonzero(roles == role)))
            if not chosen.num_rows:
                continue
            sample.inputs[role].append(build_inputs(chosen, vocab_size=config.vocab_size))
            if role in sample.categories:
                sample.categories[role].append(pl.from_arrow(chosen.column("categories_tags")))  # type: ignore[arg-type]
        if progress is not None:
            progress(batch.num_rows)
    return sample


def train_from_snapshot(
    snapshot: Path,
    models_root: Path,
    *,
    config: TrainConfig | None = None,
    flavor: str = "off",
    dump_etag: str | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, dict]:
    """Train on the snapshot, evaluate on its held-out products, save under ``models_root/<version>``;
    the model folder and its card."""
    config = config or TrainConfig()
    now = now or dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    sample = read_sample(snapshot, config, progress)
    read_seconds = time.perf_counter() - started
    train_categories = sample.categories_of(_TRAIN)
    labels = choose_labels(train_categories, config.min_products)
    if not labels:
        raise NoLabelsError(
            f"no category has {config.min_products} training products in {snapshot} "
            f"({train_categories.len()} products with categories were drawn)"
        )
    targets = Targets.of(train_categories, labels)
    sample.categories[_TRAIN].clear()  # the lists are no longer needed: their memory goes before training
    del train_categories
    training = sample.stacked(_TRAIN)
    model = train(training, targets, config)
    train_seconds = time.perf_counter() - started - read_seconds
    held = sample.stacked(_HELD)
    uncategorized = sample.stacked(_UNCATEGORIZED)
    report = quality(
        model.forward(held.tokens, held.features) if held.rows else np.zeros((0, len(labels)), np.float32),
        label_matrix(sample.categories_of(_HELD), labels),
        labels,
        uncategorized=model.forward(uncategorized.tokens, uncategorized.features)
        if uncategorized.rows
        else np.zeros((0, len(labels)), np.float32),
    )
    version = f"embedding-bag-{now:%Y%m%d-%H%M%S}"
    card = {
        "version": version,
        "trained_at": now.isoformat(timespec="seconds"),
        "flavor": flavor,
        "dump_etag": dump_etag,
        "snapshot": str(snapshot),
        "vocab_size": config.vocab_size,
        "categories": len(labels),
        "threshold": THRESHOLD,
        "training_products": training.rows,
        "held_out_products": held.rows,
        "config": asdict(config),
        "seconds": {"read": round(read_seconds, 1), "train": round(train_seconds, 1)},
        "metrics": report,
    }
    folder = save_model(models_root, version, to_onnx(model, doc=f"category model {version}"), labels, card)
    logger.info(
        "category model %s: micro-F1 %.3f on %d held-out products", version, report["micro_f1"], held.rows
    )
    return folder, card


def evaluate_model(folder: Path, snapshot: Path, *, config: TrainConfig | None = None) -> dict:
    """The quality report of a saved model (through onnxruntime) on the snapshot's held-out products."""
    classifier = CategoryClassifier.load(folder)
    config = config or TrainConfig(vocab_size=classifier.vocab_size or TrainConfig().vocab_size)
    sample = read_sample(snapshot, config)
    held, uncategorized = sample.stacked(_HELD), sample.stacked(_UNCATEGORIZED)
    return quality(
        classifier.scores(held) if held.rows else np.zeros((0, len(classifier.labels)), np.float32),
        label_matrix(sample.categories_of(_HELD), classifier.labels),
        classifier.labels,
        threshold=classifier.threshold,
        uncategorized=classifier.scores(uncategorized) if uncategorized.rows else None,
    )

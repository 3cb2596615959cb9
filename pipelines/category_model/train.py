"""Training in numpy: labels from ``categories_tags``, a held-out split by barcode, minibatch Adam.

- Labels: the categories carried by at least ``min_products`` training products (multi-label: a product
  counts for each of its tags, ancestors included, as ``categories_tags`` lists them).
- Split: a product is held out when the stable hash of its barcode falls under ``holdout``; the same
  product is on the same side in every run and every release.
- Loss: binary cross-entropy per category; Adam with bias correction; the embedding rows a batch touches are
  the only ones updated ("lazy" Adam: a row's moments move only when it is used), which keeps a batch's
  cost proportional to its tokens, not to the vocabulary.
- Deterministic for a seed: seeded initial embeddings and a seeded permutation of the products per epoch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.category_model.features import DEFAULT_VOCAB_SIZE, Inputs
from pipelines.category_model.model import CategoryModel
from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (recorded in its card)."""

    vocab_size: int = DEFAULT_VOCAB_SIZE
    dim: int = 64
    epochs: int = 4
    batch_size: int = 1024
    learning_rate: float = 0.01
    min_products: int = 200
    max_products: int = 1_000_000
    holdout: float = 0.1
    seed: int = 0


class NoLabelsError(OffpipeError, ValueError):
    """No category has enough training products: nothing to learn."""


def held_out(barcodes: Sequence[str], fraction: float) -> np.ndarray:
    """Which products are held out: BLAKE2b of the barcode, as a fraction of 2^64, under ``fraction``."""
    limit = int(fraction * 2**64)
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(code.encode(), digest_size=8).digest(), "little") < limit
            for code in barcodes
        ),
        dtype=bool,
        count=len(barcodes),
    )


def choose_labels(categories: pl.Series, min_products: int) -> list[str]:
    """Categories carried by at least ``min_products`` of the given products (a list column), sorted."""
    counts = (
        pl.DataFrame({"tags": categories})
        .with_row_index("row")
        .explode("tags")
        .drop_nulls("tags")
        .unique(["row", "tags"])
        .group_by("tags")
        .len()
        .filter(pl.col("len") >= min_products)
    )
    return sorted(counts["tags"].to_list())


def _label_pairs(categories: pl.Series, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(product row, label column) of every label a product carries."""
    index = pl.DataFrame(
        {"tags": list(labels), "column": np.arange(len(labels), dtype=np.int64)},
        schema={"tags": pl.String, "column": pl.Int64},
    )
    found = (
        pl.DataFrame({"tags": categories.cast(pl.List(pl.String))})
        .with_row_index("row")
        .explode("tags")
        .join(index, on="tags", how="inner")
    )
    return found["row"].to_numpy().astype(np.int64), found["column"].to_numpy()


def label_matrix(categories: pl.Series, labels: Sequence[str]) -> np.ndarray:
    """Boolean [products, labels]: which of ``labels`` each product carries."""
    targets = np.zeros((categories.len(), len(labels)), dtype=bool)
    rows, columns = _label_pairs(categories, labels)
    targets[rows, columns] = True
    return targets


@dataclass(frozen=True)
class Targets:
    """A label matrix packed eight labels to a byte: a million products × 3,500 categories is 440 MB
    instead of 3.5 GB of booleans; :meth:`rows` unpacks one minibatch at a time."""

    packed: np.ndarray  # uint8 [products, ceil(categories / 8)]
    categories: int

    @classmethod
    def of(cls, categories: pl.Series, labels: Sequence[str]) -> Targets:
        """Packed directly from the (product, label) pairs: the boolean matrix never exists."""
        packed = np.zeros((categories.len(), (len(labels) + 7) // 8), dtype=np.uint8)
        rows, columns = _label_pairs(categories, labels)
        np.bitwise_or.at(packed, (rows, columns >> 3), (1 << (7 - (columns & 7))).astype(np.uint8))
        return cls(packed, len(labels))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Targets:
        return cls(np.packbits(matrix.astype(bool), axis=1), int(matrix.shape[1]))

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Boolean [len(index), categories]."""
        return np.unpackbits(self.packed[index], axis=1, count=self.categories).astype(bool)


class _Adam:
    """Adam moments for one parameter; ``step`` updates the given rows (all when ``rows`` is None)."""

    def __init__(self, param: np.ndarray, rate: float) -> None:
        self.param, self.rate = param, rate
        self.m = np.zeros_like(param)
        self.v = np.zeros_like(param)

    def step(self, grad: np.ndarray, t: int, rows: np.ndarray | None = None) -> None:
        b1, b2, eps = 0.9, 0.999, 1e-8
        correction = self.rate * np.sqrt(1 - b2**t) / (1 - b1**t)
        if rows is None:
            self.m *= b1
            self.m += (1 - b1) * grad
            self.v *= b2
            self.v += (1 - b2) * grad * grad
            self.param -= correction * self.m / (np.sqrt(self.v) + eps)
            return
        m = b1 * self.m[rows] + (1 - b1) * grad
        v = b2 * self.v[rows] + (1 - b2) * grad * grad
        self.m[rows], self.v[rows] = m, v
        self.param[rows] -= correction * m / (np.sqrt(v) + eps)


def train(
    inputs: Inputs,
    targets: np.ndarray | Targets,
    config: TrainConfig,
    *,
    progress: Callable[[int], None] | None = None,
) -> CategoryModel:
    """Fit a model on ``inputs`` (tokens, features) and ``targets``: a boolean [products, categories] matrix
    or the same packed (:class:`Targets`)."""
    if not isinstance(targets, Targets):
        targets = Targets.from_matrix(targets)
    if targets.categories == 0:
        raise NoLabelsError("no category to learn")
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    model = CategoryModel.initial(
        config.vocab_size, config.dim, inputs.features.shape[1], targets.categories, seed=config.seed
    )
    optimizers = {
        name: _Adam(getattr(model, name), config.learning_rate) for name in ("embeddings", "weights", "bias")
    }
    step = 0
    for epoch in range(config.epochs):
        order = rng.permutation(inputs.rows)
        loss_sum = 0.0
        for start in range(0, inputs.rows, config.batch_size):
            batch = order[start : start + config.batch_size]
            step += 1
            loss_sum += _step(model, optimizers, inputs, targets, batch, step) * len(batch)
            if progress is not None:
                progress(len(batch))
        logger.info("epoch %d: loss %.4f", epoch + 1, loss_sum / max(inputs.rows, 1))
    logger.info("trained on %d products in %.1f s", inputs.rows, time.perf_counter() - started)
    return model


def _step(
    model: CategoryModel,
    optimizers: dict[str, _Adam],
    inputs: Inputs,
    targets: Targets,
    batch: np.ndarray,
    step: int,
) -> float:
    """One minibatch: forward, binary cross-entropy, gradients, Adam; the batch's mean loss."""
    tokens, features = inputs.tokens[batch], inputs.features[batch]
    y = targets.rows(batch).astype(np.float32)
    hidden, count = model.pooled(tokens, features)
    logits = hidden @ model.weights + model.bias
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
    loss = float(-np.mean(np.sum(y * np.log(scores + 1e-7) + (1 - y) * np.log(1 - scores + 1e-7), axis=1)))
    grad_logits = ((scores - y) / len(batch)).astype(np.float32)
    grad_weights = hidden.T @ grad_logits
    grad_bias = grad_logits.sum(axis=0)
    grad_mean = (grad_logits @ model.weights[: model.dim].T) / count  # [batch, dim]
    rows, slots = np.nonzero(tokens)
    used, inverse = np.unique(tokens[rows, slots], return_inverse=True)
    grad_embeddings = np.zeros((len(used), model.dim), dtype=np.float32)
    np.add.at(grad_embeddings, inverse, grad_mean[rows])
    optimizers["weights"].step(grad_weights, step)
    optimizers["bias"].step(grad_bias, step)
    optimizers["embeddings"].step(grad_embeddings, step, rows=used)
    return loss

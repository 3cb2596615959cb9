"""Model inputs built set-based from a product table: hashed token ids and nutrient features.

Tokens, in this order, each product's first :data:`MAX_TOKENS` distinct ones:

- ``n:<word>`` for each word (letters and digits, two characters or more, lowercased) of the product's names
  in every language (``product_name``);
- ``i:<tag>`` for each of its ``ingredients_tags``.

A token's id is a stable hash (BLAKE2b, 8 bytes) modulo ``vocab_size - 1``, plus one: id 0 is padding. The
hash must not depend on the library version or the process (Polars' and DuckDB's ``hash`` may change between
releases), since a model trained today reads ids computed by a later release; hashing only the distinct
tokens of a chunk keeps it cheap.

Nutrient features (:data:`NUTRIENTS`, per 100 g): the value scaled to about [0, 1] and clipped (grams / 100,
energy kcal / 1,000 up to 4), and a presence flag each, so a missing value is not read as zero.

Everything is column operations over the whole table (Polars); the only per-item Python is the hash of each
distinct token. One row or four million (in chunks), the same code runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

MAX_TOKENS = 64
DEFAULT_VOCAB_SIZE = 1 << 18
# (nutriment name in the snapshot, divisor, upper clip): grams per 100 g over 100, kcal over 1,000.
NUTRIENTS: tuple[tuple[str, float, float], ...] = (
    ("fat", 100.0, 1.0),
    ("saturated-fat", 100.0, 1.0),
    ("carbohydrates", 100.0, 1.0),
    ("sugars", 100.0, 1.0),
    ("fiber", 100.0, 1.0),
    ("proteins", 100.0, 1.0),
    ("salt", 100.0, 1.0),
    ("energy-kcal", 1000.0, 4.0),
    ("fruits-vegetables-nuts", 100.0, 1.0),
)
FEATURES = 2 * len(NUTRIENTS)  # value, presence
INPUT_COLUMNS = ("product_name", "ingredients_tags", "nutriments")
_WORD = r"[\p{L}\p{N}]{2,}"


@dataclass(frozen=True)
class Inputs:
    """The model's inputs for ``rows`` products, in the table's row order."""

    tokens: np.ndarray  # int64 [rows, MAX_TOKENS], 0 = padding
    features: np.ndarray  # float32 [rows, FEATURES]

    @property
    def rows(self) -> int:
        return int(self.tokens.shape[0])


def token_id(token: str, vocab_size: int = DEFAULT_VOCAB_SIZE) -> int:
    """The stable id of one token, in [1, vocab_size)."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (vocab_size - 1) + 1


def build_inputs(products: pa.Table | pl.DataFrame, *, vocab_size: int = DEFAULT_VOCAB_SIZE) -> Inputs:
    """Token ids and nutrient features of every row of ``products`` (the snapshot's columns; only
    :data:`INPUT_COLUMNS` are read, missing ones count as empty)."""
    frame = _frame(products)
    return Inputs(tokens=_token_matrix(frame, vocab_size), features=_nutrient_matrix(frame))


def _frame(products: pa.Table | pl.DataFrame) -> pl.DataFrame:
    if isinstance(products, pa.Table):
        present = [c for c in INPUT_COLUMNS if c in products.column_names]
        frame = pl.from_arrow(products.select(present))
        assert isinstance(frame, pl.DataFrame)
    else:
        frame = products.select([c for c in INPUT_COLUMNS if c in products.columns])
    return frame.with_row_index("row")


def product_tokens(frame: pl.DataFrame) -> pl.DataFrame:
    """``row, token``: each product's distinct tokens in order (names first), at most :data:`MAX_TOKENS`."""
    parts = []
    if "product_name" in frame.columns:
        names = (
            frame.select("row", text=pl.col("product_name"))
            .explode("text")
            .select("row", word=pl.col("text").struct.field("text").str.to_lowercase().str.extract_all(_WORD))
            .explode("word")
            .drop_nulls("word")
            .select("row", token=pl.lit("n:") + pl.col("word"), part=pl.lit(0, pl.Int8))
        )
        parts.append(names)
    if "ingredients_tags" in frame.columns:
        ingredients = (
            frame.select("row", tag=pl.col("ingredients_tags"))
            .explode("tag")
            .drop_nulls("tag")
            .select("row", token=pl.lit("i:") + pl.col("tag"), part=pl.lit(1, pl.Int8))
        )
        parts.append(ingredients)
    if not parts:
        return pl.DataFrame(schema={"row": pl.UInt32, "token": pl.String})
    tokens = pl.concat(parts).with_row_index("order")
    return (
        tokens.unique(["row", "token"], keep="first", maintain_order=True)
        .sort("row", "part", "order")
        .filter(pl.int_range(pl.len()).over("row") < MAX_TOKENS)
        .select("row", "token")
    )


def _token_matrix(frame: pl.DataFrame, vocab_size: int) -> np.ndarray:
    tokens = product_tokens(frame)
    matrix = np.zeros((frame.height, MAX_TOKENS), dtype=np.int64)
    if tokens.height == 0:
        return matrix
    distinct = tokens["token"].unique()
    ids = pl.DataFrame(
        {"token": distinct, "id": [token_id(t, vocab_size) for t in distinct.to_list()]},
        schema={"token": pl.String, "id": pl.Int64},
    )
    placed = tokens.join(ids, on="token", how="left", maintain_order="left").with_columns(
        slot=pl.int_range(pl.len()).over("row")
    )
    matrix[placed["row"].to_numpy(), placed["slot"].to_numpy()] = placed["id"].to_numpy()
    return matrix


def _nutrient_matrix(frame: pl.DataFrame) -> np.ndarray:
    features = np.zeros((frame.height, FEATURES), dtype=np.float32)
    if "nutriments" not in frame.columns or frame.height == 0:
        return features
    names = [name for name, _, _ in NUTRIENTS]
    values = (
        frame.select("row", item=pl.col("nutriments"))
        .explode("item")
        .drop_nulls("item")
        .select(
            "row",
            name=pl.col("item").struct.field("name"),
            value=pl.col("item").struct.field("100g").cast(pl.Float64),
        )
        .filter(pl.col("name").is_in(names) & pl.col("value").is_not_null() & pl.col("value").is_finite())
        .unique(["row", "name"], keep="first", maintain_order=True)
    )
    for index, (name, divisor, clip) in enumerate(NUTRIENTS):
        found = values.filter(pl.col("name") == name)
        rows = found["row"].to_numpy()
        scaled = np.clip(found["value"].to_numpy() / divisor, 0.0, clip)
        features[rows, 2 * index] = scaled
        features[rows, 2 * index + 1] = 1.0
    return features

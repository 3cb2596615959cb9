"""Model inputs built set-based from a product table: hashed token ids and nutrient features.

Tokens, in this order, each product's first :data:`MAX_TOKENS` distinct ones:

- ``n:<word>`` for each word (letters and digits, two characters or more, lowercased) of the product's names
  in every language (``product_name``);
- ``i:<tag>`` for each of its ``ingredients_original_tags``: the ingredients as parsed, top-level ones first,
  without the taxonomy parents ``ingredients_tags`` adds (the top-level ids of the ``ingredients`` JSON would
  cost a JSON parse of every product).

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
INPUT_COLUMNS = ("product_name", "ingredients_original_tags", "nutriments")
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


def token_lists(frame: pl.DataFrame) -> pl.Series:
    """Each product's distinct tokens in order (names first), at most :data:`MAX_TOKENS`: a list column,
    computed with list operations (no explode, sort or window over millions of rows)."""
    parts = []
    if "product_name" in frame.columns:
        words = (
            pl.col("product_name")
            .list.eval(pl.element().struct.field("text").str.to_lowercase().str.extract_all(_WORD))
            .list.eval(pl.element().list.explode(keep_nulls=False, empty_as_null=False))
        )
        parts.append(words.list.eval(pl.lit("n:") + pl.element()))
    if "ingredients_original_tags" in frame.columns:
        parts.append(pl.col("ingredients_original_tags").list.eval(pl.lit("i:") + pl.element().drop_nulls()))
    if not parts:
        return pl.Series("tokens", [[]] * frame.height, dtype=pl.List(pl.String))
    combined = pl.concat_list([part.fill_null(pl.lit([], dtype=pl.List(pl.String))) for part in parts])
    return frame.select(tokens=combined.list.unique(maintain_order=True).list.head(MAX_TOKENS)).to_series()


def product_tokens(frame: pl.DataFrame) -> pl.DataFrame:
    """``row, token``: :func:`token_lists` as rows."""
    lists = token_lists(frame)
    return pl.DataFrame({"row": frame["row"], "token": lists}).explode("token").drop_nulls("token")


def _token_matrix(frame: pl.DataFrame, vocab_size: int) -> np.ndarray:
    lists = token_lists(frame)
    matrix = np.zeros((frame.height, MAX_TOKENS), dtype=np.int64)
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return matrix
    tokens = lists.explode().drop_nulls()
    distinct = tokens.unique()
    ids = tokens.replace_strict(
        distinct, [token_id(t, vocab_size) for t in distinct.to_list()], return_dtype=pl.Int64
    ).to_numpy()
    rows = np.repeat(np.arange(frame.height), lengths)
    slots = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    matrix[rows, slots] = ids
    return matrix


def _nutrient_matrix(frame: pl.DataFrame) -> np.ndarray:
    features = np.zeros((frame.height, FEATURES), dtype=np.float32)
    if "nutriments" not in frame.columns or frame.height == 0:
        return features
    names = [name for name, _, _ in NUTRIENTS]
    values = (
        frame.select("row", item=pl.col("nutriments"))
        .explode("item")
        .select("row", name=pl.col("item").struct.field("name"), value=pl.col("item").struct.field("100g"))
        .filter(pl.col("name").is_in(names) & pl.col("value").is_not_null() & pl.col("value").is_finite())
        .with_columns(index=pl.col("name").replace_strict(names, range(len(names)), return_dtype=pl.Int64))
    )
    rows, index = values["row"].to_numpy().astype(np.int64), values["index"].to_numpy()
    # a nutrient listed twice: its first value (a stable sort of the keys, then the first of each run)
    key = rows * len(NUTRIENTS) + index
    order = np.argsort(key, kind="stable")
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(key) else order
    values, rows, index = values[first], rows[first], index[first]
    divisor = np.array([d for _, d, _ in NUTRIENTS])[index]
    clip = np.array([c for _, _, c in NUTRIENTS])[index]
    features[rows, 2 * index] = np.clip(values["value"].cast(pl.Float64).to_numpy() / divisor, 0.0, clip)
    features[rows, 2 * index + 1] = 1.0
    return features

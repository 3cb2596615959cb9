"""One batch of raw dump lines → rows of the snapshot (and quarantined lines), with DuckDB.

The SQL is ``sql/convert/products.sql``. json_transform must know its keys up front, and the language
variants of names and texts (``product_name_fr``, ``ingredients_text_de``…) differ from batch to batch, so a
cheap pre-pass (:func:`prepare_batch`) lists the variants present and the query's placeholders are filled
with them — after each key has been checked against a strict pattern, so nothing but
``<family>_<two lowercase letters>`` ever reaches the SQL text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import duckdb
import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.common.sql import arrow_table, connect, load_sql
from pipelines.convert.reader import BATCH_SCHEMA
from pipelines.convert.repair import repair_line
from pipelines.convert.schema import LANGUAGE_FAMILIES

_LANGUAGE_KEY = re.compile(r"(%s)_([a-z]{2})" % "|".join(LANGUAGE_FAMILIES))  # noqa: UP031
# One alternation of the families' names, without the key's opening quote: the regex engine then looks for the
# names themselves with a multi-literal SIMD search, in one pass (twice as fast as one pattern per family,
# ``docs/dumps.md``); with the quote, it would start from every '"' of the text. A key that only
# ends with a family's name ("x_product_name_fr") is taken too: a superset of the keys gives the same rows.
_LANGUAGE_KEY_IN_TEXT = '(?:%s)_[a-z]{2}"[ \t\n\r]*:' % "|".join(LANGUAGE_FAMILIES)  # noqa: UP031
STATUS_COLUMNS = ("_line_no", "_reason", "_raw")
FAILED_PREFIX = "_failed:"
# Reasons a text defect alone can cause (parsed_lines.sql): those lines are offered to repair_line.
REPAIRABLE_REASONS = pa.array(["invalid_utf8", "invalid_json"])


NUTRIMENT_SUFFIXES = (  # OFF's export order: the first suffix a key ends with decides its field
    ("_prepared_100g", "prepared_100g"),
    ("_prepared_serving", "prepared_serving"),
    ("_prepared_unit", "prepared_unit"),
    ("_prepared_value", "prepared_value"),
    ("_unit", "unit"),
    ("_value", "value"),
    ("_100g", "100g"),
    ("_serving", "serving"),
)
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*")
_TEXT_FIELDS = {"unit", "prepared_unit"}


class BatchTransformer:
    """Runs the convert queries on successive batches over one DuckDB connection.

    Per batch: list the language variants present (:func:`prepare_batch`), define the ``parsed_lines`` view
    for them, build the rows in one query (each line is parsed once there), then regroup the legacy
    nutriments from their small JSON text (``nutriment_keys.sql``, ``legacy_nutriments.sql``).
    ``unsafe_keys`` counts nutriment keys skipped because their name could not be written safely into the
    query; ``repaired_lines`` the lines kept as rows after :func:`~pipelines.convert.repair.repair_line`
    fixed their text (the dump and the per-product path alike).
    """

    def __init__(
        self,
        max_line_bytes: int,
        *,
        threads: int = 2,
        memory_limit: str = "2GB",
        batches_per_connection: int | None = None,
    ) -> None:
        self.threads = int(threads)
        self.batches_per_connection = batches_per_connection
        self.batches_on_connection = 0
        self.memory_limit = memory_limit
        self.con: duckdb.DuckDBPyConnection | None = None
        self.max_line_bytes = int(max_line_bytes)  # a DuckDB variable for the view (views take no parameters)
        self.nutriment_keys = load_sql("convert/nutriment_keys")
        self.parsed_lines = load_sql("convert/parsed_lines")
        self.products = load_sql("convert/products")
        self.legacy_nutriments = load_sql("convert/legacy_nutriments")
        self.unsafe_keys = 0
        self.repaired_lines = 0

    def __call__(self, batch: pa.RecordBatch | pa.Table, languages: list[str] | None = None) -> pa.Table:
        """Rows and quarantined lines of ``batch``, computed on an in-memory DuckDB database.

        ``batch``: ``(line_no, line)``, or what :func:`prepare_batch` made of it, with ``languages`` (the
        conversion prepares batches on the reader's thread, while DuckDB works on the previous batch).

        By default one database serves the whole run: it keeps the memory its queries used, and the next batch
        reuses it instead of faulting fresh pages in. Replacing it every 2 batches (as before) kept the peak
        a little lower but cost more CPU in page faults (``docs/dumps.md``); the reader's smaller blocks paid
        for that memory.
        ``batches_per_connection`` brings the replacement back if a machine needs it.
        """
        limit = self.batches_per_connection
        if self.con is None or (limit is not None and self.batches_on_connection >= limit):
            self.close()
            self.con = connect()
            self.con.execute("SET threads = ?", [self.threads])
            self.con.execute("SET memory_limit = ?", [self.memory_limit])
            self.batches_on_connection = 0
        self.batches_on_connection += 1
        if languages is None or "text" not in batch.schema.names:  # not prepared by the caller
            batch, languages = prepare_batch(batch)
        return self._salvaged(self._transform(batch, languages))

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def _transform(self, batch: pa.RecordBatch | pa.Table, languages: list[str]) -> pa.Table:
        con = self.con
        assert con is not None
        con.register("batch", batch)
        try:
            con.execute(load_sql("convert/max_line_bytes"), {"max_line_bytes": self.max_line_bytes})
            con.execute(self.parsed_lines_query(languages))
            result = arrow_table(con, self.products_query(languages))
        finally:
            con.execute("DROP VIEW IF EXISTS parsed_lines")
            con.unregister("batch")
        return self._with_legacy_nutriments(result)

    def _salvaged(self, result: pa.Table) -> pa.Table:
        """``result`` with the lines refused for a text defect replaced by their repaired rows, in place.

        Only lines DuckDB refused as ``invalid_utf8`` or ``invalid_json`` are looked at (none in most
        batches: the check is one null count). Those :func:`repair_line` changed into a JSON object (checked
        in Python first: a second pass costs a whole query planning whatever its size, not to be spent on
        a line that is still broken) go through the same queries again, as a small batch of their own. A
        line still refused keeps its first reason and its original bytes in the quarantine.
        """
        reasons = result.column("_reason")
        if reasons.null_count == result.num_rows:
            return result
        candidates = np.flatnonzero(pc.is_in(reasons, REPAIRABLE_REASONS).to_numpy(zero_copy_only=False))
        positions, numbers, lines = [], [], []
        raws = result.column("_raw")
        line_numbers = result.column("_line_no")
        for position in candidates.tolist():
            repaired = repair_line(raws[position].as_py().removesuffix(b"\n"))
            if repaired is not None and _is_object(repaired):
                positions.append(position)
                numbers.append(line_numbers[position].as_py())
                lines.append(repaired + b"\n")
        if not lines:
            return result
        batch = pa.record_batch(
            [pa.array(numbers, pa.int64()), pa.array(lines, pa.large_binary())], schema=BATCH_SCHEMA
        )
        again = self._transform(*prepare_batch(batch))
        kept = pc.is_null(again.column("_reason")).to_numpy(zero_copy_only=False)
        if not kept.any():
            return result
        # Take every row from the first result, except the salvaged ones from the second, in line order.
        order = np.arange(result.num_rows, dtype=np.int64)
        order[np.asarray(positions)[kept]] = result.num_rows + np.arange(int(kept.sum()), dtype=np.int64)
        salvaged = again.filter(pa.array(kept)).select(result.column_names).cast(result.schema)
        self.repaired_lines += int(kept.sum())
        return pa.concat_tables([result, salvaged]).take(pa.array(order))

    def _with_legacy_nutriments(self, result: pa.Table) -> pa.Table:
        """Second, small pass: regroup the legacy nutriments objects (their JSON text only) per nutrient.

        DuckDB reads the values, one typed column per key; the per-row lists (one item per nutrient name
        with at least one value, names in order) are put together here with index arithmetic instead of
        one SQL struct per name and a list filter (measured ~15 % cheaper on real documents, even on
        synthetic ones).
        """
        con = self.con
        assert con is not None
        con.register(
            "nutriment_batch",
            result.select(["_legacy_nutriments", "has_fiber_value"]).rename_columns(
                ["legacy_nutriments", "has_fiber_value"]
            ),
        )
        try:
            keys = con.execute(self.nutriment_keys).fetchall()[0][0]
            plan = self._nutriment_plan(keys)
            query = self.legacy_nutriments.replace("{nutriment_structure}", plan.structure)
            values = arrow_table(con, query.replace("{nutriment_columns}", plan.columns))
        finally:
            con.unregister("nutriment_batch")
        if values.num_rows != result.num_rows:
            raise RuntimeError("the legacy nutriments pass changed the number of rows")
        current = result.column("nutriments")
        legacy = nutriment_lists(values, plan.fields, current.type)
        nutriments = pc.if_else(pc.is_null(result.column("_legacy_nutriments")), current, legacy)
        result = result.set_column(result.schema.get_field_index("nutriments"), "nutriments", nutriments)
        fiber = values.column("has_fiber_value")
        result = result.set_column(result.schema.get_field_index("has_fiber_value"), "has_fiber_value", fiber)
        return result.drop_columns(["_legacy_nutriments"])

    def parsed_lines_query(self, languages: list[str]) -> str:
        members = "".join(f', "{key}": "VARCHAR"' for key in _checked_languages(languages))
        return self.parsed_lines.replace("{language_keys}", members)

    def products_query(self, languages: list[str]) -> str:
        """The products query for a batch with these language variants."""
        sql = self.products
        by_family: dict[str, list[str]] = {family: [] for family in LANGUAGE_FAMILIES}
        for key in _checked_languages(languages):
            family, lang = key.rsplit("_", 1)
            by_family[family].append(lang)
        for family, langs in by_family.items():
            items = [f"{{'lang': 'main', 'text': j.{family}}}"]
            items += [f"{{'lang': '{lang}', 'text': j.\"{family}_{lang}\"}}" for lang in sorted(langs)]
            sql = sql.replace(f"{{{family}_langs}}", "[" + ", ".join(items) + "]")
        return sql

    def _nutriment_plan(self, keys: list[str]) -> _NutrimentPlan:
        """What the legacy pass reads: json_transform structure, typed columns, fields per nutrient name."""
        fields: dict[str, dict[str, str]] = {}
        read = {"fiber", "fiber_prepared"}
        for key in keys:
            if not _SAFE_KEY.fullmatch(key):
                self.unsafe_keys += 1
                continue
            for suffix, field in NUTRIMENT_SUFFIXES:
                if key.endswith(suffix) and len(key) > len(suffix):
                    fields.setdefault(key[: -len(suffix)], {})[field] = key
                    read.add(key)
                    break
        # Numbers are read as DOUBLE by json_transform itself ("12.5" and 12.5 alike, NULL for what is not a
        # number; true/false as 1/0, as OFF's export's float fields take them), then narrowed to FLOAT (NULL
        # beyond its range). Reading text and casting it afterwards cost a third more on real documents.
        numeric = {key for keys in fields.values() for key in keys.values()}
        numeric -= {keys[f] for keys in fields.values() for f in _TEXT_FIELDS if f in keys}
        kinds = {key: "DOUBLE" if key in numeric else "VARCHAR" for key in sorted(read)}
        structure = "{" + ", ".join(f'"{key}": "{kind}"' for key, kind in kinds.items()) + "}"
        columns = "".join(
            f', TRY_CAST(nut."{key}" AS FLOAT) AS "{key}"' if key in numeric else f', nut."{key}" AS "{key}"'
            for name in sorted(fields)
            for key in fields[name].values()
        )
        return _NutrimentPlan(structure, columns, {name: fields[name] for name in sorted(fields)})


@dataclass(frozen=True)
class _NutrimentPlan:
    structure: str
    columns: str
    fields: dict[str, dict[str, str]]  # nutrient name (sorted) → {field: key}


def nutriment_lists(values: pa.Table, fields: dict[str, dict[str, str]], list_type: pa.DataType) -> pa.Array:
    """One list per row of ``{name, value, 100g, …}`` items, from one column per key (``values``).

    A row's list holds the names, in ``fields`` order, for which at least one of the row's keys has a value.
    The items are the nonzero cells of a rows × names mask, taken in row-major order, so the lists come out
    ordered without sorting; each field of the items is one take from the key columns of that field, stacked.
    """
    item_type = list_type.value_type
    rows = values.num_rows
    if not fields:
        return pa.array([[] for _ in range(rows)], type=list_type)
    names = list(fields)
    present = np.zeros((len(names), rows), dtype=bool)  # names × rows: each name fills a contiguous row
    columns: dict[str, pa.Array] = {}
    for j, keys in enumerate(fields.values()):
        for key in keys.values():
            column = values.column(key)
            column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            present[j] |= column.is_valid().to_numpy(zero_copy_only=False)
            columns[key] = column
    row_index, name_index = np.nonzero(present.T)  # row-major over rows × names: rows in order, names sorted
    children = []
    for child in item_type:
        if child.name == "name":
            children.append(pa.array(names, type=child.type).take(pa.array(name_index)))
            continue
        stacked = [j for j, keys in enumerate(fields.values()) if child.name in keys]
        if not stacked:
            children.append(pa.nulls(len(row_index), child.type))
            continue
        slot = np.full(len(names), -1, dtype=np.int64)  # a name's place in the stack of this field's columns
        slot[stacked] = np.arange(len(stacked))
        source = slot[name_index] * rows + row_index
        stack = pa.concat_arrays([columns[fields[names[j]][child.name]].cast(child.type) for j in stacked])
        children.append(stack.take(pa.array(source, mask=slot[name_index] < 0)))
    items = pa.StructArray.from_arrays(children, fields=list(item_type))
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=0), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), items, type=list_type)


def prepare_batch(batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, list[str]]:
    """``batch`` with a ``text`` column (the lines as text, NULL where not UTF-8), and its language keys.

    The conversion calls it on the reader's thread, while DuckDB works on the previous batch. A chunk of lines
    that is valid UTF-8 as a whole (polars checks it while searching it for the language keys) becomes text
    without a copy, so DuckDB reads the lines where the reader put them rather than decoding a copy of each
    batch (CPU time and one batch's worth of memory).
    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if "text" in table.schema.names:
        table = table.drop_columns(["text"])
    keys: set[str] = set()
    texts = []
    for searchable, text in _texts(table.column("line")):
        found = searchable.str.extract_all(_LANGUAGE_KEY_IN_TEXT).explode().drop_nulls().unique()
        keys.update(match[: match.index('"')] for match in found.to_list())
        texts.append(text)
    return table.append_column("text", pa.chunked_array(texts, pa.large_string())), sorted(keys)


def language_keys(batch: pa.RecordBatch | pa.Table) -> list[str]:
    """The language variants (``product_name_fr``…) that occur as keys in the raw ``line`` column, sorted.

    A key-like text inside a value (or in a line that is then quarantined) only adds a key that reads as
    NULL, and NULL texts are dropped from the language lists: a superset of the keys gives the same rows.
    """
    return prepare_batch(batch)[1]


def _texts(lines: pa.Array | pa.ChunkedArray) -> list[tuple[pl.Series, pa.Array]]:
    """The lines as text, per Arrow chunk, for polars and for DuckDB; in the rare chunk with invalid UTF-8,
    those lines become null."""
    texts = []
    for chunk in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
        try:
            texts.append((pl.Series(chunk).cast(pl.String), chunk.view(pa.large_string())))
        except pl.exceptions.ComputeError:  # invalid UTF-8 (polars has no lenient cast): decode line by line
            decoded = [_decoded(line) for line in chunk.to_pylist()]
            texts.append((pl.Series(decoded, dtype=pl.String), pa.array(decoded, pa.large_string())))
    return texts


def _is_object(line: bytes) -> bool:
    """Whether ``line`` is a JSON object; Python's reader is asked when orjson refuses it for one of the
    things DuckDB accepts and orjson does not (integers beyond 64 bits, NaN)."""
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        try:
            return isinstance(json.loads(line), dict)
        except ValueError:  # json.JSONDecodeError is one
            return False


def _decoded(line: bytes | None) -> str | None:
    try:
        return line.decode("utf-8") if line is not None else None
    except UnicodeDecodeError:
        return None


def _checked_languages(keys: list[str]) -> list[str]:
    for key in keys:
        if _LANGUAGE_KEY.fullmatch(key) is None:
            raise ValueError(f"unexpected language key {key!r}")
    return keys

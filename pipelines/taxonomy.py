"""Open Food Facts taxonomies as DuckDB tables, so the insight importers test them with joins.

Robotoff's importers ask three things of a taxonomy, one prediction at a time
(``robotoff/insights/importer.py``): is a tag an ancestor of another (``Taxonomy.is_parent_of_any``), which
tags of a set are the deepest (``find_deepest_nodes``), and what node a free tag such as
``fr:agriculture-biologique`` stands for (``match_taxonomized_value`` over the SDK's
``create_taxonomy_mapping``). Here each taxonomy becomes rows of five tables (``sql/taxonomy/``), so the same
questions are semi-joins over millions of predictions:

- ``taxonomy_node`` (taxonomy, id, name, names, properties), ``taxonomy_parent`` (taxonomy, id, parent);
- ``taxonomy_ancestor`` (taxonomy, id, ancestor, depth): the transitive closure, computed in SQL;
- ``taxonomy_name`` (taxonomy, key, id): exactly the SDK's mapping, built by the SDK itself;
- ``taxonomy_source``: the file each taxonomy came from (sha256, mtime), so an unchanged file is not reloaded.

Several taxonomies share the tables (column ``taxonomy``); loading one replaces only its rows, in one
transaction. The files are parsed by the SDK (``Taxonomy.from_dict``), so the tables see what Robotoff sees.
Look-up macros (``canonical_tag``, ``is_ancestor``…) are in ``sql/taxonomy/macros.sql``, the deepest-only
query in ``sql/taxonomy/deepest.sql``; docs/taxonomies.md shows how importers use them.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
from openfoodfacts.taxonomy import Taxonomy, create_taxonomy_mapping

from pipelines.common.errors import OffpipeError
from pipelines.common.sql import load_sql
from pipelines.store.db import write_transaction

logger = logging.getLogger(__name__)

# Bump when the rows built from one file change (new column, other mapping rule): stored taxonomies are then
# reloaded even though their files did not change.
LOADER_VERSION = 1

# Created in this order by ensure_schema (all CREATE TABLE IF NOT EXISTS).
SCHEMA_OBJECTS = (
    "taxonomy/taxonomy_source",
    "taxonomy/taxonomy_node",
    "taxonomy/taxonomy_parent",
    "taxonomy/taxonomy_ancestor",
    "taxonomy/taxonomy_name",
)
# What a load runs, in order: empty the taxonomy's rows of each table (taxonomy_source is upserted), then fill
# them from the registered Arrow tables, the closure last.
_DELETE_ROWS = (
    "taxonomy/delete_node",
    "taxonomy/delete_parent",
    "taxonomy/delete_ancestor",
    "taxonomy/delete_name",
)
_INSERT_ROWS = (
    "taxonomy/insert_node",
    "taxonomy/insert_parent",
    "taxonomy/insert_name",
    "taxonomy/insert_ancestor",
)

# Names of the Arrow tables registered on the connection for the duration of a load or a query.
_LOAD_VIEWS = ("taxonomy_load_node", "taxonomy_load_parent", "taxonomy_load_name")
_DEEPEST_INPUT = "taxonomy_deepest_input"

# A taxonomy name becomes part of a file name: keep it to the characters OFF uses (packaging_shapes…).
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_GZIP_MAGIC = b"\x1f\x8b"
# Parsed files kept in this process: sha256 → their Arrow tables (a few taxonomies, a few MB each), and the
# closure computed from them once (under _ANCESTOR_VIEW).
_PARSED: dict[str, dict[str, pa.Table]] = {}
_PARSED_MAX = 8
_ANCESTOR_VIEW = "taxonomy_load_ancestor"
ANCESTOR_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("ancestor", pa.string(), nullable=False),
        pa.field("depth", pa.int32(), nullable=False),
    ]
)

NODE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("names", pa.string(), nullable=False),  # JSON text, cast to JSON on insert
        pa.field("properties", pa.string(), nullable=False),  # JSON text
    ]
)
PARENT_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("parent", pa.string(), nullable=False)]
)
NAME_SCHEMA = pa.schema(
    [pa.field("key", pa.string(), nullable=False), pa.field("id", pa.string(), nullable=False)]
)


class TaxonomyFileNotFoundError(OffpipeError, FileNotFoundError):
    """No ``<name>.full.json.gz`` nor ``<name>.full.json`` in the taxonomy folder."""


@dataclass(frozen=True)
class SourceFile:
    """A taxonomy file as read once: its bytes and what identifies them (recorded in taxonomy_source)."""

    path: Path
    content: bytes
    sha256: str
    size_bytes: int
    mtime: datetime


@dataclass(frozen=True)
class LoadStats:
    """Row counts of one loaded taxonomy and the time the load took."""

    taxonomy: str
    nodes: int
    parents: int
    ancestors: int
    names: int
    seconds: float


def loader_signature() -> str:
    """What built the rows: this module's version and the SDK's (whose ``get_tag`` makes the name keys)."""
    return f"offpipe-taxonomy/{LOADER_VERSION} openfoodfacts/{version('openfoodfacts')}"


def check_name(name: str) -> str:
    """``name`` if it is a plausible taxonomy name; it ends up in a path and in every row."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid taxonomy name: {name!r}")
    return name


def taxonomy_path(folder: Path | str, name: str) -> Path:
    """The file of taxonomy ``name`` in ``folder``: ``<name>.full.json.gz``, else ``<name>.full.json``."""
    check_name(name)
    for candidate in (f"{name}.full.json.gz", f"{name}.full.json"):
        path = Path(folder) / candidate
        if path.is_file():
            return path
    raise TaxonomyFileNotFoundError(f"taxonomy {name} not found in {folder}")


def read_source(path: Path | str) -> SourceFile:
    """Read a taxonomy file once; hash and parse the same bytes, so the recorded hash is that of the rows."""
    path = Path(path)
    stat = path.stat()
    content = path.read_bytes()
    return SourceFile(
        path=path,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        mtime=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )


def parse_taxonomy(content: bytes) -> Taxonomy:
    """The SDK's Taxonomy of a ``*.full.json`` file's bytes, gzip-compressed or not.

    ``Taxonomy.from_dict`` is what ``Taxonomy.from_path`` (Robotoff's loader) calls; decoding the bytes here
    rather than re-reading the path keeps the hash and the rows of one load from the same content.
    """
    if content.startswith(_GZIP_MAGIC):
        content = gzip.decompress(content)
    taxonomy = Taxonomy.from_dict(orjson.loads(content))
    _drop_non_text_names(taxonomy)
    return taxonomy


def _drop_non_text_names(taxonomy: Taxonomy) -> None:
    """Remove names and synonyms that are not strings (the ingredients taxonomy has ``"fr": null`` names).

    The SDK's ``create_taxonomy_mapping`` raises on them, so Robotoff could not map such a taxonomy at all;
    dropping them keeps the other keys exactly the SDK's. Label and category taxonomies have none.
    """
    dropped = 0
    for node in taxonomy.iter_nodes():
        for lang in [lang for lang, name in node.names.items() if not isinstance(name, str)]:
            del node.names[lang]
            dropped += 1
        for lang, synonyms in node.synonyms.items():
            kept = [synonym for synonym in synonyms or () if isinstance(synonym, str)]
            dropped += len(synonyms or ()) - len(kept)
            node.synonyms[lang] = kept
    if dropped:
        logger.warning("taxonomy: dropped %d names or synonyms that are not strings", dropped)


def taxonomy_tables(taxonomy: Taxonomy) -> dict[str, pa.Table]:
    """The Arrow tables of one taxonomy, keyed by the view name the insert statements read.

    Built column-wise in Python (tens of thousands of rows at most) and inserted by DuckDB in bulk.
    """
    nodes = list(taxonomy.iter_nodes())
    node_table = pa.table(
        {
            "id": [n.id for n in nodes],
            "name": [n.get_localized_name("en") for n in nodes],
            "names": [orjson.dumps(n.names).decode() for n in nodes],
            "properties": [orjson.dumps(n.properties).decode() for n in nodes],
        },
        schema=NODE_SCHEMA,
    )
    links = [(n.id, p.id) for n in nodes for p in n.parents]
    parent_table = pa.table(
        {"id": [child for child, _ in links], "parent": [parent for _, parent in links]}, schema=PARENT_SCHEMA
    )
    mapping = create_taxonomy_mapping(taxonomy)
    name_table = pa.table({"key": list(mapping), "id": list(mapping.values())}, schema=NAME_SCHEMA)
    return dict(zip(_LOAD_VIEWS, (node_table, parent_table, name_table), strict=True))


def _parsed_tables(source: SourceFile) -> dict[str, pa.Table]:
    """:func:`taxonomy_tables` of a file's content, kept in this process by the content's hash (with, after
    the first load, the closure computed from them: :func:`_load` adds it).

    A PostgreSQL session's working copy is a new DuckDB database each time, so it loads the label and
    category taxonomies every session; parsing their JSON costs ~1.5 s each, the closure ~0.1 s, the
    inserts a fraction of that. The rows are a pure function of the bytes (Arrow tables are immutable,
    shared safely); a changed file has another hash and is parsed again. Few entries are kept: the oldest
    goes first.
    """
    tables = _PARSED.get(source.sha256)
    if tables is None:
        tables = taxonomy_tables(parse_taxonomy(source.content))
        while len(_PARSED) >= _PARSED_MAX:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[source.sha256] = tables
    return tables


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the taxonomy macros (temporary) on ``con``, whose database must already have the tables.

    Not part of ``pipelines.common.sql.install_macros``: DuckDB binds a macro's tables when it creates it, so
    these can only be installed once the tables exist. Works on read-only connections.
    """
    con.execute(load_sql("taxonomy/macros"))


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the taxonomy tables that are missing (under the writer lock), then install the macros."""
    with write_transaction(con, purpose="taxonomy schema"):
        _create_tables(con)
    install_macros(con)


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in SCHEMA_OBJECTS:
        con.execute(load_sql(name))


def load_taxonomy(con: duckdb.DuckDBPyConnection, name: str, path: Path | str) -> LoadStats:
    """Load (or reload) taxonomy ``name`` from its ``*.full.json[.gz]`` file, whether or not it changed.

    One transaction replaces the taxonomy's rows in every table and records the file in taxonomy_source;
    other taxonomies' rows are untouched. Use :func:`ensure_taxonomies` to skip unchanged files.
    """
    return _load(con, check_name(name), read_source(path))


def _load(con: duckdb.DuckDBPyConnection, name: str, source: SourceFile) -> LoadStats:
    """Parse outside the transaction (the writer lock is held only while DuckDB writes), then replace."""
    started = time.perf_counter()
    tables = _parsed_tables(source)
    params = {"taxonomy": name}
    closure_known = _ANCESTOR_VIEW in tables
    inserts = (*_INSERT_ROWS[:-1], "taxonomy/insert_ancestor_rows") if closure_known else _INSERT_ROWS
    for view, table in tables.items():
        con.register(view, table)
    try:
        with write_transaction(con, purpose=f"taxonomy {name}"):
            _create_tables(con)
            for statement in (*_DELETE_ROWS, *inserts):
                con.execute(load_sql(statement), params)
            if not closure_known:
                closure = con.sql(load_sql("taxonomy/ancestor_rows"), params=params).to_arrow_table()
                tables[_ANCESTOR_VIEW] = closure.cast(ANCESTOR_SCHEMA)
            con.execute(
                load_sql("taxonomy/upsert_source"),
                {
                    **params,
                    "path": str(source.path),
                    "sha256": source.sha256,
                    "size_bytes": source.size_bytes,
                    "mtime": source.mtime,
                    "loader": loader_signature(),
                    "load_seconds": round(time.perf_counter() - started, 3),
                },
            )
    finally:
        for view in (*_LOAD_VIEWS, _ANCESTOR_VIEW):
            with suppress(duckdb.Error):
                con.unregister(view)
    install_macros(con)
    stats = _stats(con, name, time.perf_counter() - started)
    logger.info(
        "taxonomy %s loaded from %s: %d nodes, %d parent links, %d ancestor pairs, %d name keys (%.2f s)",
        name,
        source.path,
        stats.nodes,
        stats.parents,
        stats.ancestors,
        stats.names,
        stats.seconds,
    )
    return stats


def _stats(con: duckdb.DuckDBPyConnection, name: str, seconds: float) -> LoadStats:
    rows = con.execute(load_sql("taxonomy/source"), {"taxonomy": name}).fetchall()
    nodes, parents, ancestors, names = rows[0][2:]
    return LoadStats(name, nodes, parents, ancestors, names, round(seconds, 3))


def recorded_source(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str] | None:
    """(sha256, loader signature) recorded when taxonomy ``name`` was last loaded; None if never."""
    rows = con.execute(load_sql("taxonomy/source"), {"taxonomy": name}).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def ensure_taxonomies(con: duckdb.DuckDBPyConnection, names: Iterable[str], folder: Path | str) -> list[str]:
    """Load each taxonomy of ``names`` from ``folder`` unless its file is unchanged; return those (re)loaded.

    Unchanged means: same sha256 as recorded and same loader signature (a new SDK may tag names otherwise).
    The content decides, not the mtime: a file downloaded again with the same bytes is not reloaded, and the
    hash of a 2 MB file costs milliseconds. Each taxonomy is loaded in its own transaction.
    """
    ensure_schema(con)
    loaded = []
    for name in dict.fromkeys(names):
        source = read_source(taxonomy_path(folder, name))
        if recorded_source(con, name) == (source.sha256, loader_signature()):
            logger.debug("taxonomy %s unchanged (%s), not reloaded", name, source.sha256[:12])
            continue
        _load(con, name, source)
        loaded.append(name)
    return loaded


def deepest_tags(con: duckdb.DuckDBPyConnection, taxonomy: str, rows: pa.Table) -> pa.Table:
    """Rows of ``rows`` (columns ``grp``, ``tag``, any others) whose tag is deepest within its group.

    The Python face of ``sql/taxonomy/deepest.sql`` (Robotoff's select_deepest_taxonomized_candidates);
    SQL callers create a view named ``taxonomy_deepest_input`` and run the query file themselves.
    """
    con.register(_DEEPEST_INPUT, rows)
    try:
        return con.sql(load_sql("taxonomy/deepest"), params={"taxonomy": taxonomy}).to_arrow_table()
    finally:
        with suppress(duckdb.Error):
            con.unregister(_DEEPEST_INPUT)

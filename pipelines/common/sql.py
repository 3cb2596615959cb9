"""Loading the project's SQL files by name, and DuckDB connections with the project's macros installed.

Every SQL statement of the pipeline lives in ``sql/`` (one file per rule, named after what it produces);
Python code refers to it by a literal name (``load_sql("macros/barcodes")``) and passes values as parameters.
Each file opens with a header (README.md, `sql/`) naming what it produces, what it reads and its parameters;
:func:`header` parses it and ``tests/sql/test_sql_contracts.py`` checks that it is true.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from contextlib import suppress
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from pipelines.common.errors import OffpipeError

# The macro files, installed in this order on every connection (later files may use earlier macros).
MACRO_FILES = ("macros/barcodes", "macros/json_values", "macros/store")

# What a SQL file does, as its header's KIND says.
KINDS = frozenset(
    {"TABLE", "VIEW", "QUERY", "INSERT", "UPDATE", "DELETE", "MACRO", "INDEX", "SEQUENCE", "SCHEMA"}
)
_HEADER_KEYS = ("MODEL", "KIND", "READS", "PARAMS")
# A name: a table, view, macro…; `{slot}` parts for files templated per table, a schema prefix for PostgreSQL.
_NAME = re.compile(r"[a-z_{][a-z0-9_{}]*(\.[a-z_{][a-z0-9_{}]*)?")
_PARAM = re.compile(
    r"\$[a-z_][a-z0-9_]*|%\([a-z_][a-z0-9_]*\)s|\{[a-z_][a-z0-9_]*\}|getvariable\('[a-z_][a-z0-9_]*'\)"
)


class SqlNotFoundError(OffpipeError, FileNotFoundError):
    """No SQL file of that name."""


class SqlHeaderError(OffpipeError, ValueError):
    """A SQL file's header is missing or malformed."""


@dataclass(frozen=True)
class SqlHeader:
    """A SQL file's contract: what it produces (``models``: a table, view, macro… or, for a query, a name
    for its rows), what it does (``kind``), the tables and views it reads (``reads``; registered inputs
    in ``inputs``, written ``@name``) and its parameters (``$name``, or ``%(name)s`` in a PostgreSQL file run
    by psycopg; ``{name}`` for a template slot filled from names the caller validated; ``getvariable('name')``
    for a DuckDB variable a view reads)."""

    models: tuple[str, ...]
    kind: str
    reads: tuple[str, ...]
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    purpose: str

    @property
    def named_params(self) -> tuple[str, ...]:
        """The ``$name`` parameters, without the ``$``."""
        return tuple(p[1:] for p in self.params if p.startswith("$"))

    @property
    def pg_params(self) -> tuple[str, ...]:
        """The ``%(name)s`` parameters of a PostgreSQL file, without ``%(`` and ``)s``."""
        return tuple(p[2:-2] for p in self.params if p.startswith("%("))

    @property
    def slots(self) -> tuple[str, ...]:
        """The ``{name}`` template slots, without the braces."""
        return tuple(p[1:-1] for p in self.params if p.startswith("{"))


def parse_header(text: str) -> SqlHeader:
    """The header of a SQL file's ``text``: ``-- MODEL:``, ``-- KIND:``, ``-- READS:``, ``-- PARAMS:`` as its
    first four lines, then one or more comment lines saying why the step exists."""
    lines = text.splitlines()
    values: dict[str, str] = {}
    for key, line in zip(_HEADER_KEYS, lines, strict=False):
        prefix = f"-- {key}:"
        if not line.startswith(prefix):
            raise SqlHeaderError(f"line {len(values) + 1} should start with {prefix!r}: {line!r}")
        values[key] = line[len(prefix) :].strip()
    if len(values) < len(_HEADER_KEYS):
        raise SqlHeaderError("header incomplete: MODEL, KIND, READS and PARAMS lines are required")
    purpose = []
    for line in lines[len(_HEADER_KEYS) :]:
        if not line.startswith("--") or not line[2:].strip():
            break
        purpose.append(line[2:].strip())
    if not purpose:
        raise SqlHeaderError("no line after PARAMS saying why the step exists")
    models = _items(values["MODEL"], "MODEL")
    if not models or not all(_NAME.fullmatch(m) for m in models):
        raise SqlHeaderError(f"MODEL must name what the file produces: {values['MODEL']!r}")
    kind = values["KIND"]
    if kind not in KINDS:
        raise SqlHeaderError(f"KIND {kind!r} is not one of {sorted(KINDS)}")
    reads = _items(values["READS"], "READS")
    if not all(_NAME.fullmatch(r.removeprefix("@")) for r in reads):
        raise SqlHeaderError(f"READS must list table names or @inputs: {values['READS']!r}")
    params = _items(values["PARAMS"], "PARAMS")
    if not all(_PARAM.fullmatch(p) for p in params):
        raise SqlHeaderError(
            f"PARAMS must list $name, %(name)s, {{name}} or getvariable('name'): {values['PARAMS']!r}"
        )
    return SqlHeader(
        models=models,
        kind=kind,
        reads=tuple(r for r in reads if not r.startswith("@")),
        inputs=tuple(r[1:] for r in reads if r.startswith("@")),
        params=params,
        purpose=" ".join(purpose),
    )


def _items(value: str, key: str) -> tuple[str, ...]:
    if value == "-":
        return ()
    items = tuple(item.strip() for item in value.split(","))
    if not all(items) or len(set(items)) != len(items):
        raise SqlHeaderError(f"{key}: empty or repeated item in {value!r} (write `-` for none)")
    return items


def header(name: str) -> SqlHeader:
    """The parsed header of ``sql/<name>.sql``."""
    return _header(load_sql(name))


@cache
def _header(text: str) -> SqlHeader:
    return parse_header(text)


def sql_dir() -> Path:
    """Folder holding the project's SQL files: ``OFF_SQL_DIR`` when set, else :func:`packaged_sql_dir`."""
    override = os.environ.get("OFF_SQL_DIR")
    return Path(override) if override else packaged_sql_dir()


@cache
def packaged_sql_dir() -> Path:
    """The ``sql/`` folder that belongs to the imported ``pipelines`` package.

    A wheel ships the repository's ``sql/`` as the data package ``pipelines._sql`` (``pyproject.toml``); a
    checkout (editable install, or ``PYTHONPATH``) has no such folder and reads ``sql/`` beside the package.
    Both are found from the package actually imported, so a worktree on ``PYTHONPATH`` never reads another
    checkout's SQL.
    """
    package = files("pipelines")
    if not isinstance(package, Path):  # pip unpacks wheels; a zipped install would need extracting first
        raise SqlNotFoundError(f"the pipelines package is not on a file system: {package}")
    shipped = package / "_sql"
    return shipped if shipped.is_dir() else package.parent / "sql"


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql`` (``name`` may contain sub-folders: ``macros/barcodes``)."""
    return _read(_sql_path(sql_dir(), name))


@cache
def _sql_path(folder: Path, name: str) -> Path:
    """The checked file of ``name`` under ``folder`` (cached: a per-product batch loads ~30 files, and
    resolving paths costs more than its small queries)."""
    base = folder.resolve()
    path = (base / f"{name}.sql").resolve()
    if base not in path.parents:
        raise SqlNotFoundError(f"SQL name outside {base}: {name!r}")
    if not path.is_file():
        raise SqlNotFoundError(f"no SQL file {path}")
    return path


def load_statement(name: str) -> duckdb.Statement:
    """``sql/<name>.sql`` (one statement) parsed once: ``con.execute`` takes the parsed statement and skips
    DuckDB's parser, whose cost for the refresh's longer files is much of a one-product statement's time
    (``docs/listener.md``, "Keeping a batch cheap")."""
    return parsed(load_sql(name))


@lru_cache(maxsize=1024)
def parsed(text: str) -> duckdb.Statement:
    """``text`` (exactly one statement) parsed once; parsed statements run on any connection."""
    statements = duckdb.extract_statements(text)
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, found {len(statements)}: {text[:80]!r}")
    return statements[0]


def macro_names() -> list[str]:
    """Names of the macro files, in the order they install (later files may use earlier macros)."""
    return list(MACRO_FILES)


def install_macros(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Create (or replace) every macro of ``sql/macros/`` on ``con``, and the function ``json_canonical``."""
    for name in macro_names():
        con.execute(load_sql(name))
    with suppress(duckdb.CatalogException, duckdb.NotImplementedException):  # already on this connection
        con.create_function(
            "json_canonical", _json_canonical, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
        )
    return con


def _json_canonical(values: pa.Array) -> pa.Array:
    """JSON texts with sorted keys, minified: equal for equal documents whatever their key order.

    Why: PostgreSQL's ``jsonb`` keeps no key order, so a ``data`` read back from the PostgreSQL store is not
    the text the rule wrote; the rules compare documents with this (docs/store.md, "One rule, two stores").
    """
    out = [
        None if text is None else orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        for text in values.to_pylist()
    ]
    return pa.array(out, pa.string())


def connect(database: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the project's macros installed."""
    con = duckdb.connect(str(database), read_only=read_only)
    return install_macros(con)


# A scope of at most this many products is "small": its statements run on one DuckDB thread (fit_threads).
SMALL_SCOPE_PRODUCTS = 64


def fit_threads(con: duckdb.DuckDBPyConnection, products: int | None) -> None:
    """Run the statements of a scope of ``products`` products (None: every product) on one DuckDB thread
    when the scope is small, on all of them otherwise.

    A listener batch's statements each handle a few rows: the work of the other threads is mostly handing
    over and waiting, which costs a small statement more than its own work and takes a core from whatever
    else runs (a bulk refresh beside it). One thread made a 3-product batch ~20 % cheaper in CPU and time
    (docs/listener.md, "Speed"). The setting is the database instance's: a session sets it for its scope.
    """
    small = products is not None and products <= SMALL_SCOPE_PRODUCTS
    con.execute("SET threads = 1" if small else "RESET threads")


_scratch = threading.local()


def scratch() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection for small, short queries (the per-product path's lookups),
    kept open: opening one and installing the macros costs tens of milliseconds, more than the queries.
    Callers register their inputs under their own names and replace them at each call."""
    con = getattr(_scratch, "con", None)
    if con is None:
        con = _scratch.con = connect()
        fit_threads(con, 1)  # small queries only (fit_threads)
    return con


def arrow_table(
    con: duckdb.DuckDBPyConnection, query: str | duckdb.Statement, params: dict | list | None = None
) -> pa.Table:
    """The result of ``query`` as an Arrow table, planned once.

    ``con.sql(query).to_arrow_table()`` binds the query to learn its shape, then plans it again to run it:
    for a wide query (the conversion's ~180 columns built from macros) and for the per-product path's small
    ones alike, that second planning is a large share of the call (``docs/listener.md``). ``execute`` plans
    once; DuckDB warns that its Arrow output copies the rows, which is cheaper for the results this is used
    for (a batch, a few rows). Large streamed results (exports, lookups) keep
    ``con.sql(...).to_arrow_reader()``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        cursor = con.execute(query, params) if params is not None else con.execute(query)
        return cursor.to_arrow_table()

"""Per-product work ends where the bulk run ends: events for changed and deleted products, applied through
``apply_products``, leave the same predictions and insights as a bulk run on the new snapshot — on both
stores: the rules run on the connection of ``store_session`` (the store file, or a PostgreSQL working copy
whose changes are applied when the session ends), the state is read through ``store_reader``."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.apply import apply_products, log_applied
from pipelines.listener.replay import replay_since
from pipelines.listener.sources import snapshot_rows
from pipelines.predictors.bulk import prediction_products
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.predictions import import_predictions
from pipelines.store.session import store_reader, store_session
from pipelines.synth.generator import SynthSpec, generate
from tests.pipelines.insights.test_equivalence import COMPARED
from tests.pipelines.listener.conftest import BACKENDS

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
NEW_NAMES = ["Pâtes bio Panzani 500 g", "Biscuits sans gluten 200 g", "Lait demi-écrémé Lactel 1 L"]


@pytest.fixture(scope="module")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


class Store:
    """A store of either kind: ``target`` is the store file or a PostgreSQL URL; ``copy`` makes another."""

    def __init__(
        self, target: Path | str, settings: Settings, copy: Callable[[Path | str], Path | str]
    ) -> None:
        self.target, self.settings, self._copy = target, settings, copy

    def session(self, barcodes: list[str] | None = None) -> AbstractContextManager:
        """A writing session of off: bulk (``barcodes`` None), or for these products."""
        return store_session(
            self.target, server_type="off", barcodes=barcodes, purpose="test", settings=self.settings
        )

    def reader(self) -> AbstractContextManager:
        return store_reader(self.target, settings=self.settings)

    def copy(self) -> Store:
        return Store(self._copy(self.target), self.settings, self._copy)


@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes empty stores of the test's backend."""
    settings = get_settings({"OFF_DATA_DIR": str(tmp_path / "data")})
    if request.param == "duckdb":
        paths = iter(tmp_path / f"store-{i}.duckdb" for i in range(100))

        def copy_file(source: Path | str) -> Path:
            path = next(paths)
            shutil.copy(source, path)
            return path

        yield lambda: Store(next(paths), settings, copy_file)
        return
    server = request.getfixturevalue("postgres_server")
    created: list[str] = []

    def copy_database(source: Path | str) -> str:
        created.append(server.create(template=str(source).rsplit("/", 1)[1]))
        return created[-1]

    try:
        created.append(server.create())
        yield lambda: Store(created[0], settings, copy_database)
    finally:
        for url in created:
            server.drop_later(url)


def _bulk(store: Store, snapshot: Path, resources: Resources) -> None:
    """The nightly run's steps on a snapshot (names only), in bulk sessions."""
    products = pq.read_table(snapshot)
    predictions = predict(products, resources=resources)
    with store.session() as con:
        import_predictions(con, predictions, products=prediction_products(predictions, snapshot), now=NOW)
    with store.session() as con:
        refresh_insights(con, snapshot, resources=resources, now=NOW)


def _state(store: Store) -> tuple[list, list]:
    with store.reader() as con:
        return _rows(con)


def _rows(con) -> tuple[list, list]:
    columns = ", ".join(f"{c}::VARCHAR" for c in COMPARED)
    insights = sorted(con.execute(f"SELECT {columns} FROM product_insight").fetchall())
    predictions = sorted(
        con.execute(
            "SELECT barcode, type, value, value_tag, data::VARCHAR, source_image, predictor FROM prediction"
        ).fetchall()
    )
    return insights, predictions


def _edited(snapshot: Path, out: Path, renamed: list[str], removed: list[str]) -> None:
    """The snapshot with new names for ``renamed`` products and without ``removed`` ones."""
    table = pq.read_table(snapshot)
    codes = table.column("normalized_code").to_pylist()
    names = table.column("product_name").to_pylist()
    for index, code in enumerate(codes):
        if code in renamed:
            names[index] = [{"lang": "main", "text": NEW_NAMES[renamed.index(code) % len(NEW_NAMES)]}]
    position = table.schema.get_field_index("product_name")
    table = table.set_column(
        position, table.schema.field(position), pa.array(names, table.schema.field(position).type)
    )
    keep = pc.invert(pc.is_in(table.column("normalized_code"), value_set=pa.array(removed, pa.string())))
    pq.write_table(table.filter(keep), out)


def test_events_applied_per_product_equal_a_bulk_run(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path, resources: Resources, new_store
) -> None:
    dump = tmp_path / "dump.jsonl.gz"
    generate(SynthSpec(products=400, seed=17, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    before = tmp_path / "before"
    convert_dump(dump, "off", out_dir=before)
    snapshot = before / "products.parquet"
    codes = [c for c in pq.read_table(snapshot, columns=["normalized_code"]).column(0).to_pylist() if c]
    unique = [c for c in codes if codes.count(c) == 1]
    renamed, removed = unique[10:25], unique[40:46]
    after = tmp_path / "after.parquet"
    _edited(snapshot, after, renamed, removed)

    listener_store = new_store()
    _bulk(listener_store, snapshot, resources)
    bulk_store = listener_store.copy()
    _bulk(bulk_store, after, resources)
    expected = _state(bulk_store)

    rows = snapshot_rows(after, renamed)
    assert sorted(set(rows.column("normalized_code").to_pylist())) == sorted(renamed)
    with listener_store.session(sorted({*renamed, *removed})) as con:  # the listener's per-product session
        report = apply_products(
            con,
            "off",
            updated=rows,
            updated_codes=renamed,
            deleted_codes=removed,
            resources=resources,
            now=NOW,
        )
    got = _state(listener_store)
    assert (report.updated, report.deleted, report.not_found) == (15, 6, 0)
    assert report.refresh["missing_products"] == 6
    assert sum(report.refresh["created"].values()) > 0  # the new names brought new insights
    assert got == expected


def test_an_update_for_a_product_absent_from_the_source_touches_nothing(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path, resources: Resources, new_store
) -> None:
    dump = tmp_path / "dump.jsonl.gz"
    generate(SynthSpec(products=60, seed=5, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", out_dir=tmp_path)
    snapshot = tmp_path / "products.parquet"
    store = new_store()
    _bulk(store, snapshot, resources)
    with store.reader() as con:
        code, other = [r[0] for r in con.execute(_TWO_WITH_INSIGHTS).fetchall()]
    before = _state(store)
    empty = snapshot_rows(snapshot, [])
    with store.session([code]) as con:
        report = apply_products(con, "off", updated=empty, updated_codes=[code], resources=resources, now=NOW)
    assert (report.updated, report.not_found, report.refresh) == (0, 1, {})
    assert _state(store) == before  # absence is not deletion
    with store.reader() as con:  # nor logged as gone
        assert con.execute("SELECT count(*) FROM listener_log").fetchall() == [(0,)]

    # the nightly replay of the listener's work goes through the same function: a product logged by the
    # listener and since missing from the product source is not deleted either
    settings = get_settings({"OFF_DATA_DIR": str(tmp_path / "data")})
    without = settings.parquet_dir("off") / "products.parquet"
    without.parent.mkdir(parents=True)
    _edited(snapshot, without, renamed=[], removed=[code])
    with store.session([code, other]) as con:
        log_applied(con, Flavor.off, [code, other], [], now=NOW)
    with store.session() as con:  # the replay runs in the nightly run's bulk session
        replayed = replay_since(con, "off", NOW, settings=settings, resources=resources, now=NOW)
    assert (replayed.products, replayed.deleted, replayed.not_found) == (2, 0, 1)
    after = _state(store)
    assert [row for row in after[0] if row[0] == code] == [row for row in before[0] if row[0] == code]
    assert [row for row in after[1] if row[0] == code] == [row for row in before[1] if row[0] == code]

    # only a deletion the caller knows of (a `deleted` event) deletes
    with store.session([code]) as con:
        deleted = apply_products(
            con, "off", updated=empty, updated_codes=[], deleted_codes=[code], resources=resources
        )
    assert deleted.deleted == 1
    insights, predictions = _state(store)
    assert [row for row in insights + predictions if row[0] == code] == []


_TWO_WITH_INSIGHTS = "SELECT DISTINCT barcode FROM product_insight ORDER BY barcode LIMIT 2"

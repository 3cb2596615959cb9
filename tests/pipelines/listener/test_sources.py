"""Product sources for the per-product path: MongoDB (mongomock), Product Opener's API (a real HTTP server on
127.0.0.1) and the snapshot, each giving the rows the conversion gives — and the fallback between them."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import mongomock
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.convert.from_documents import documents_to_rows
from pipelines.listener.failures import is_outage
from pipelines.listener.sources import (
    ApiSource,
    ChainSource,
    MongoSource,
    SnapshotSource,
    SourceDownError,
    SourceUnavailableError,
    product_source,
)
from tests.conftest import shared_path
from tests.support.http_server import Behaviour, DumpServer, ServedFile

# What the per-product steps read: the rows from any source must agree with the snapshot on these.
COMPARED = [
    "normalized_code",
    "code_valid",
    "product_type",
    "lang",
    "product_name",
    "images",
    "labels_tags",
    "categories_tags",
    "brands_tags",
    "emb_codes_tags",
    "quantity",
    "expiration_date",
    "countries_tags",
    "unique_scans_n",
    "ingredients_tags",
    "has_fiber_value",
    "last_modified_t",
]


@pytest.fixture(scope="module")
def sample() -> tuple[list[dict], Path]:
    """The real off sample's documents, and the sample converted by ``offpipe convert``."""
    path = shared_path("products") / "off-real-sample.jsonl.gz"
    with gzip.open(path, "rb") as handle:
        documents = [orjson.loads(line) for line in handle]
    return documents, path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, sample) -> Settings:
    data = tmp_path_factory.mktemp("data")
    settings = get_settings({"OFF_DATA_DIR": str(data)})
    convert_dump(sample[1], "off", settings=settings)
    return settings


def _snapshot(settings: Settings, codes: list[str]) -> pa.Table:
    table = pq.read_table(settings.parquet_dir("off") / "products.parquet")
    return table.filter(pc.is_in(table.column("normalized_code"), pa.array(codes)))


def _same(rows: pa.Table, expected: pa.Table) -> None:
    ordered = rows.sort_by("normalized_code").select(COMPARED)
    assert ordered.equals(expected.sort_by("normalized_code").select(COMPARED))


def test_documents_convert_as_the_dump_does(settings: Settings, sample) -> None:
    documents, _ = sample
    rows, quarantined = documents_to_rows(documents)
    snapshot = pq.read_table(settings.parquet_dir("off") / "products.parquet")
    assert quarantined == {} and rows.num_rows == len(documents)
    assert rows.equals(snapshot)  # every column, dump_line included (one batch, numbered from 1)
    bad, reasons = documents_to_rows([{"code": ""}, {"product_name": "no code"}, documents[0]])
    assert bad.num_rows == 1 and sum(reasons.values()) == 2


def test_mongo_source_projects_and_converts(settings: Settings, sample) -> None:
    documents, _ = sample
    client = mongomock.MongoClient()
    collection = client["off"]["products"]
    collection.insert_many([{"_id": d["code"], **d} for d in documents])
    codes = [*sorted({d["code"] for d in documents[:25]}), "3000000000001"]  # the last one is not there
    expected = _snapshot(settings, codes)
    rows = MongoSource(client, settings).rows(Flavor.off, codes, {})
    _same(rows, expected)
    assert "3000000000001" not in rows.column("normalized_code").to_pylist()
    # the projection keeps what the steps need and leaves the rest out
    assert rows.column("ingredients_text").null_count < rows.num_rows
    assert rows.column("nova_group").null_count == rows.num_rows


def test_mongo_finds_a_product_still_stored_under_its_raw_code(settings: Settings, sample) -> None:
    documents, _ = sample
    document = next(d for d in documents if len(d["code"]) == 13)
    client = mongomock.MongoClient()
    client["off"]["products"].insert_one(
        {**document, "_id": "0" + document["code"], "code": "0" + document["code"]}
    )
    rows = MongoSource(client, settings).rows(
        Flavor.off, [document["code"]], {document["code"]: "0" + document["code"]}
    )
    assert rows.column("normalized_code").to_pylist() == [document["code"]]


class _DownMongo:
    def __getitem__(self, name: str):
        return self

    def find(self, *args, **kwargs):
        raise ServerSelectionTimeoutError("no server")


@pytest.fixture
def api() -> Iterator[DumpServer]:
    with DumpServer() as server:
        yield server


def _api_settings(settings: Settings, server: DumpServer) -> Settings:
    return get_settings({"OFF_DATA_DIR": str(settings.data_dir), "OFF_WORLD_URL_OFF": server.base})


def test_api_source_reads_products_and_a_404_is_not_found(
    settings: Settings, sample, api: DumpServer
) -> None:
    documents, _ = sample
    chosen = documents[:5]
    for document in chosen:
        answer = {
            "code": document["code"],
            "product": document,
            "status": 1,
            "status_verbose": "product found",
        }
        api.files[f"/api/v2/product/{document['code']}"] = ServedFile(orjson.dumps(answer))
    codes = [*sorted(d["code"] for d in chosen), "3000000000001"]
    rows = ApiSource(_api_settings(settings, api)).rows(Flavor.off, codes, {})
    _same(rows, _snapshot(settings, codes))
    # each code asked once (up to four at a time, in any order), the one the API lacks too: not found
    assert sorted(r["path"] for r in api.requests) == sorted(f"/api/v2/product/{code}" for code in codes)


def test_chain_falls_back_only_when_a_source_cannot_answer(
    settings: Settings, sample, api: DumpServer
) -> None:
    documents, _ = sample
    code = documents[0]["code"]
    api.behaviour = Behaviour(fail_5xx=100)
    api_settings = _api_settings(settings, api)
    chain = ChainSource(
        [MongoSource(_DownMongo(), settings), ApiSource(api_settings, backoff_s=0), SnapshotSource(settings)]
    )
    rows = chain.rows(Flavor.off, [code], {})
    _same(rows, _snapshot(settings, [code]))
    assert chain.used == {"snapshot": 1}
    assert sum(1 for r in api.requests if r["path"].startswith("/api/")) == 3  # retried, then given up
    # an answering source is authoritative: a product it lacks is not looked up further down the chain
    empty = mongomock.MongoClient()
    authoritative = ChainSource([MongoSource(empty, settings), SnapshotSource(settings)])
    assert authoritative.rows(Flavor.off, [code], {}).num_rows == 0
    with pytest.raises(SourceDownError, match="no product source answered"):
        ChainSource([MongoSource(_DownMongo(), settings)]).rows(Flavor.off, [code], {})


def test_a_source_that_cannot_be_reached_is_an_outage_a_missing_snapshot_is_not(
    settings: Settings, api: DumpServer
) -> None:
    """What the listener does with a product no source answered for depends on why: a missing snapshot is
    the flavor's state (its products are retried, then dead-lettered); a source that cannot be reached is
    an outage (its products wait)."""
    down = ChainSource([MongoSource(_DownMongo(), settings), SnapshotSource(settings)])
    with pytest.raises(SourceDownError) as raised:
        down.rows(Flavor.obf, ["3017620422003"], {})  # MongoDB down and no obf snapshot
    assert is_outage(raised.value)
    api.behaviour = Behaviour(status_override=200)  # a 200 whose body is not JSON (a maintenance page)
    with pytest.raises(SourceDownError, match="not JSON"):
        ApiSource(_api_settings(settings, api)).rows(Flavor.off, ["3017620422003"], {})
    with pytest.raises(SourceUnavailableError) as missing:
        ChainSource([SnapshotSource(settings)]).rows(Flavor.obf, ["3017620422003"], {})
    assert not isinstance(missing.value, SourceDownError) and not is_outage(missing.value)
    assert "no obf snapshot" in str(missing.value)


def test_configured_chains(settings: Settings) -> None:
    assert [s.name for s in product_source(settings).sources] == ["snapshot"]
    with_mongo = get_settings({"OFF_DATA_DIR": str(settings.data_dir), "MONGO_URI": "mongodb://127.0.0.1:1"})
    assert [s.name for s in product_source(with_mongo).sources] == ["mongo", "snapshot"]
    api_first = get_settings({"OFF_DATA_DIR": str(settings.data_dir), "OFF_PRODUCT_SOURCES": "api,snapshot"})
    assert [s.name for s in product_source(api_first).sources] == ["api", "snapshot"]
    with pytest.raises(ValueError, match="unknown product source"):
        product_source(get_settings({"OFF_DATA_DIR": str(settings.data_dir), "OFF_PRODUCT_SOURCES": "ftp"}))

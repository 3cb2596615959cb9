"""The fiber facet writer: the rule (Robotoff's removed fiber job, with our deviations: ``docs/facets.md``),
the plan files, and MongoDB updates.

MongoDB is mongomock behind ``tests/support/mongo.py`` (which makes ``bulk_write`` and ``$addToSet`` behave
like MongoDB; ``test_mongo_fake.py`` proves why); ``test_mongo_integration.py`` runs against a real server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import mongomock
import orjson
import pyarrow as pa
import pytest
from pymongo.errors import AutoReconnect

from pipelines.common.config import get_settings
from pipelines.facets.apply import apply_plan
from pipelines.facets.plan import (
    PLAN_SCHEMA,
    plan_digest,
    plan_fiber_facets,
    skipped_invalid_codes,
    with_skipped_invalid_codes,
)
from pipelines.facets.report import (
    CHECKPOINT_FILE,
    PLAN_FILE,
    REPORT_FILE,
    SUMMARY_JSON,
    SUMMARY_MARKDOWN,
    read_plan,
    write_plan,
)
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows
from pipelines.store.session import store_session
from pipelines.store.target import PostgresTarget
from tests.pipelines.facets.conftest import NOW, NUTRITION, PHOTOS, World, mention, product
from tests.support.mongo import FlakyCollection, MongoLikeCollection, mongo_like

OTHER_TAG = "en:nutrition-value-very-high-for-category-sugars"
OTHER_WARNING = "en:ingredients-percent-analysis-not-ok"

ADD_ONE = "3000000000017"  # fiber on raw image 2, not a nutrition image → first facet
ADD_BOTH = "3000000000024"  # fiber on image 3, the selected nutrition image → both facets
HAS_FIBER = "3000000000031"
NOT_RAW = "3000000000048"  # mention on image 9, which the product does not have
NOT_FIBER = "3000000000055"
OTHER_SERVER = "3000000000062"
REMOVE_BOTH = "3000000000079"  # had both facets, now has a fiber value
KEEP_FIRST = "3000000000086"  # had both, the mention is no longer on the nutrition image
REPAIR = "3000000000093"  # facet in data_quality_tags only: added to the warnings field
DUPLICATE = "3000000000116"  # two rows: the newer one (code with a leading zero) decides
NOT_A_MENTION = "3000000000123"  # a `nutrient` prediction with a fiber key is not a mention
INVALID_RAW, INVALID_NORMALIZED = "12", "00000012"


@pytest.fixture
def world(tmp_path: Path) -> World:
    both = [PHOTOS, NUTRITION]
    world = World(tmp_path)
    world.products = [
        product(ADD_ONE, nutrition_imgid=1),
        product(ADD_BOTH, nutrition_imgid=3),
        product(HAS_FIBER, has_fiber=True),
        product(NOT_RAW, images=(1, 2)),
        product(NOT_FIBER),
        product(OTHER_SERVER),
        product(
            REMOVE_BOTH, has_fiber=True, tags=[OTHER_TAG, *both], warnings=[*both, OTHER_WARNING], dump_line=7
        ),
        product(KEEP_FIRST, nutrition_imgid=1, tags=both, warnings=both),
        product(REPAIR, tags=[PHOTOS]),
        product(DUPLICATE, has_fiber=True, dump_line=3, modified=100),
        product("0" + DUPLICATE, dump_line=9, modified=200),
        product(NOT_A_MENTION),
        product(INVALID_RAW),
    ]
    world.predictions = [
        mention(ADD_ONE, 2),
        mention(ADD_ONE, 1, keys=("fat",)),  # the nutrition image mentions fat only
        mention(ADD_BOTH, 3),
        mention(HAS_FIBER, 2),
        mention(NOT_RAW, 9),
        mention(NOT_FIBER, 2, keys=("fat", "saturated_fat", "nutrient_value")),
        mention(OTHER_SERVER, 2, server_type="obf"),
        mention(KEEP_FIRST, 2),
        mention(REPAIR, 1),
        mention(DUPLICATE, 2),
        mention(NOT_A_MENTION, 2, type="nutrient"),
        mention(INVALID_NORMALIZED, 1),
    ]
    return world.write()


EXPECTED_PLAN = [
    (ADD_ONE, ADD_ONE, [PHOTOS], []),
    (ADD_BOTH, ADD_BOTH, [PHOTOS, NUTRITION], []),
    (REMOVE_BOTH, REMOVE_BOTH, [], [PHOTOS, NUTRITION]),
    (KEEP_FIRST, KEEP_FIRST, [], [NUTRITION]),
    (REPAIR, REPAIR, [PHOTOS], []),
    ("0" + DUPLICATE, DUPLICATE, [PHOTOS], []),
]


def rows(plan: pa.Table) -> list[tuple[Any, ...]]:
    return [
        (r["code"], r["normalized_code"], r["facets_to_add"], r["facets_to_remove"]) for r in plan.to_pylist()
    ]


def seeded(world: World, database: str = "off") -> MongoLikeCollection:
    collection = mongo_like(database)
    collection.insert_many(world.documents())
    return collection


def snapshot_of(collection: Any) -> dict[str, dict[str, list[str]]]:
    """code → both tag fields, as MongoDB holds them."""
    return {
        doc["code"]: {
            "data_quality_tags": doc.get("data_quality_tags"),
            "data_quality_warnings_tags": doc.get("data_quality_warnings_tags"),
        }
        for doc in collection.find({}, {"_id": 0})
    }


# --- the rule ----------------------------------------------------------------------------------------------


def test_plan_follows_the_rule(world: World) -> None:
    plan = world.plan()
    assert plan.schema.remove_metadata() == PLAN_SCHEMA
    assert rows(plan) == EXPECTED_PLAN
    assert skipped_invalid_codes(plan) == 1  # "12": its mention qualifies, its code cannot reach a filter


def test_plan_from_a_postgresql_store_is_the_same(world: World, pg_store_url: str) -> None:
    """The planner reads predictions through the store seam: the same predictions in PostgreSQL (one
    session per server type, as the pipeline writes them) give the same plan."""
    target = PostgresTarget(pg_store_url)
    settings = get_settings({"OFF_DATA_DIR": str(world.root / "data")})
    for server_type in ("off", "obf"):
        mine = [p for p in world.predictions if p["server_type"] == server_type]
        with store_session(target, server_type=server_type, settings=settings) as con:
            import_predictions(con, predictions_from_rows(mine), now=NOW)
    plan = plan_fiber_facets(target, world.snapshot)
    assert rows(plan) == EXPECTED_PLAN
    assert skipped_invalid_codes(plan) == 1


def test_no_facet_for_products_outside_the_rule(world: World) -> None:
    planned = {code for code, *_ in rows(world.plan())}
    for code in (HAS_FIBER, NOT_RAW, NOT_FIBER, OTHER_SERVER, NOT_A_MENTION, INVALID_RAW, DUPLICATE):
        assert code not in planned


def test_new_nutrition_layout_is_not_skipped(tmp_path: Path) -> None:
    """Robotoff skipped schema_version > 1002; here `has_fiber_value` reads both layouts, so no skip."""
    world = World(tmp_path)
    row = product(ADD_ONE) | {"schema_version": 1003, "nutrition": '{"aggregated_set": {}}'}
    world.products, world.predictions = [row], [mention(ADD_ONE, 2)]
    assert rows(world.write().plan()) == [(ADD_ONE, ADD_ONE, [PHOTOS], [])]


def test_image_stem_must_be_a_raw_image_id(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.products = [product(ADD_ONE, nutrition_imgid=2)]
    base = "/300/000/000/0017"
    world.predictions = [
        mention(ADD_ONE, f"{base}/nutrition_fr.jpg"),  # a selected image's key is not a raw image
        mention(ADD_ONE, f"{base}/2.400.jpg"),  # Path.stem is "2.400": not digits
        mention(ADD_ONE, f"{base}/02.jpg"),  # "02" is no key of the product's images
    ]
    assert world.write().plan().num_rows == 0
    world.predictions.append(mention(ADD_ONE, f"{base}/2"))  # no suffix: the stem is "2"
    assert rows(world.write().plan()) == [(ADD_ONE, ADD_ONE, [PHOTOS, NUTRITION], [])]


# --- applying ----------------------------------------------------------------------------------------------


def test_apply_adds_and_removes_only_our_facets(world: World) -> None:
    collection = seeded(world)
    before = snapshot_of(collection)
    report = apply_plan(collection, world.plan(), batch_size=4)
    after = snapshot_of(collection)

    assert after[ADD_ONE] == {"data_quality_tags": [PHOTOS], "data_quality_warnings_tags": [PHOTOS]}
    assert after[ADD_BOTH] == {
        "data_quality_tags": [PHOTOS, NUTRITION],
        "data_quality_warnings_tags": [PHOTOS, NUTRITION],
    }
    assert after[REMOVE_BOTH] == {
        "data_quality_tags": [OTHER_TAG],
        "data_quality_warnings_tags": [OTHER_WARNING],
    }
    assert after[KEEP_FIRST] == {"data_quality_tags": [PHOTOS], "data_quality_warnings_tags": [PHOTOS]}
    assert after[REPAIR] == {"data_quality_tags": [PHOTOS], "data_quality_warnings_tags": [PHOTOS]}
    assert after["0" + DUPLICATE] == {"data_quality_tags": [PHOTOS], "data_quality_warnings_tags": [PHOTOS]}
    changed = {ADD_ONE, ADD_BOTH, REMOVE_BOTH, KEEP_FIRST, REPAIR, "0" + DUPLICATE}
    assert {code: tags for code, tags in after.items() if code not in changed} == {
        code: tags for code, tags in before.items() if code not in changed
    }  # the older row of DUPLICATE ("3000000000116") included

    assert report.applied and report.target == "off.products"
    assert report.products_planned == 6
    assert report.facets_added == {PHOTOS: 4, NUTRITION: 1}
    assert report.facets_removed == {PHOTOS: 1, NUTRITION: 2}
    assert report.skipped_invalid_codes == 1
    assert (report.operations, report.batches, report.round_trips) == (6, 2, 2)
    assert (report.matched, report.modified) == (6, 6)
    assert collection.calls == 2


def test_product_gaining_one_facet_and_losing_the_other(tmp_path: Path) -> None:
    """Two updates for one product: MongoDB refuses $addToSet and $pull on the same field in one update."""
    world = World(tmp_path)
    world.products = [product(ADD_ONE, nutrition_imgid=1, tags=[NUTRITION], warnings=[NUTRITION])]
    world.predictions = [mention(ADD_ONE, 2)]
    world.write()
    assert rows(world.plan()) == [(ADD_ONE, ADD_ONE, [PHOTOS], [NUTRITION])]
    collection = seeded(world)
    report = apply_plan(collection, world.plan())
    assert (report.operations, report.round_trips, report.modified) == (2, 1, 2)
    assert snapshot_of(collection)[ADD_ONE] == {
        "data_quality_tags": [PHOTOS],
        "data_quality_warnings_tags": [PHOTOS],
    }


def test_second_run_changes_nothing(world: World) -> None:
    collection = seeded(world)
    apply_plan(collection, world.plan())
    applied = snapshot_of(collection)

    again = apply_plan(collection, world.plan())  # the same plan sent again: $addToSet/$pull are idempotent
    assert (again.matched, again.modified) == (6, 0)
    assert snapshot_of(collection) == applied

    # The next night's snapshot shows what was written: nothing left to plan.
    for row in world.products:
        row.update(applied.get(row["code"], {}))
    assert world.write().plan().num_rows == 0


def test_failure_mid_way_then_resume(world: World, tmp_path: Path) -> None:
    extra = [f"40000000000{n:02d}" for n in range(10, 17)]
    world.products += [product(code) for code in extra]
    world.predictions += [mention(code, 2) for code in extra]
    plan = world.write().plan()
    assert plan.num_rows == 13  # 7 batches of 2

    clean = seeded(world, "clean")
    apply_plan(clean, plan, batch_size=2)

    checkpoint = tmp_path / "reports" / CHECKPOINT_FILE
    store = mongomock.MongoClient()["off"]["products"]
    store.insert_many(world.documents())
    flaky = FlakyCollection(store, fail_on_call=4)
    with pytest.raises(AutoReconnect):
        apply_plan(flaky, plan, batch_size=2, checkpoint=checkpoint)
    state = orjson.loads(checkpoint.read_bytes())
    assert (state["plan_sha256"], state["last_batch"], state["completed"]) == (plan_digest(plan), 2, False)

    resumed = MongoLikeCollection(store)
    report = apply_plan(resumed, plan, batch_size=2, checkpoint=checkpoint)
    assert (report.batches, report.batches_skipped, report.round_trips, resumed.calls) == (7, 3, 4, 4)
    assert snapshot_of(store) == snapshot_of(clean)
    assert orjson.loads(checkpoint.read_bytes())["completed"] is True

    # Done: the same plan again sends nothing; another plan (or batch size) starts over.
    assert apply_plan(resumed, plan, batch_size=2, checkpoint=checkpoint).round_trips == 0
    smaller = plan.slice(1)
    restarted = apply_plan(resumed, smaller, batch_size=2, checkpoint=checkpoint)
    assert (restarted.batches_skipped, restarted.round_trips, restarted.modified) == (0, 6, 0)
    assert apply_plan(resumed, smaller, batch_size=5, checkpoint=checkpoint).round_trips == 3


def test_invalid_codes_in_a_plan_file_never_reach_a_filter(world: World) -> None:
    forged = pa.Table.from_pylist(
        [
            {"code": code, "normalized_code": code, "facets_to_add": [PHOTOS], "facets_to_remove": []}
            for code in ("12", "30000 00000017", "３０００００００００017", "3000000000017\n", "")
        ]
        + [{"code": ADD_ONE, "normalized_code": ADD_ONE, "facets_to_add": [PHOTOS], "facets_to_remove": []}],
        schema=PLAN_SCHEMA,
    )
    collection = seeded(world)
    report = apply_plan(collection, with_skipped_invalid_codes(forged, 2))
    assert report.skipped_invalid_codes == 2 + 5
    assert (report.operations, report.modified) == (1, 1)


def test_plan_naming_another_tag_is_refused(world: World) -> None:
    forged = pa.Table.from_pylist(
        [{"code": ADD_ONE, "normalized_code": ADD_ONE, "facets_to_add": [], "facets_to_remove": [OTHER_TAG]}],
        schema=PLAN_SCHEMA,
    )
    collection = seeded(world)
    with pytest.raises(ValueError, match="does not write"):
        apply_plan(collection, forged)
    assert collection.calls == 0


# --- plan files --------------------------------------------------------------------------------------------


def test_plan_files_are_readable(world: World, tmp_path: Path) -> None:
    plan = world.plan()
    out = tmp_path / "reports"
    files = write_plan(plan, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([PLAN_FILE, SUMMARY_MARKDOWN, SUMMARY_JSON])

    query = "SELECT code, normalized_code, facets_to_add, facets_to_remove FROM read_parquet(?) ORDER BY ALL"
    read = duckdb.execute(query, [str(files.plan)]).fetchall()
    assert sorted(read) == sorted(EXPECTED_PLAN)
    back = read_plan(files.plan)
    assert rows(back) == EXPECTED_PLAN
    assert skipped_invalid_codes(back) == 1 and plan_digest(back) == plan_digest(plan)

    summary = orjson.loads(files.json.read_bytes())
    assert summary["products"] == 6 and summary["skipped_invalid_codes"] == 1
    assert summary["facets_to_add"] == {PHOTOS: 4, NUTRITION: 1}
    assert summary["facets_to_remove"] == {PHOTOS: 1, NUTRITION: 2}
    markdown = files.markdown.read_text()
    assert f"| `{NUTRITION}` | 1 | 2 |" in markdown and ADD_BOTH in markdown


def test_run_writes_the_plan_without_mongo_uri(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pymongo

    from pipelines.facets.errors import UnsupportedFlavorError
    from pipelines.facets.job import run_fiber_facets
    from pipelines.facets.report import reports_dir

    world = World(data_dir, snapshot_file=data_dir / "parquet" / "off" / "products.parquet")
    world.products = [product(ADD_ONE)]
    world.predictions = [mention(ADD_ONE, 2)]
    world.write()

    def no_client(*_: Any, **__: Any) -> None:
        raise AssertionError("must not connect")

    monkeypatch.setattr(pymongo, "MongoClient", no_client)
    monkeypatch.delenv("MONGO_URI", raising=False)
    report = run_fiber_facets("off")
    assert not report.applied and report.products_planned == 1 and report.round_trips == 0
    out = reports_dir("off")
    assert out == data_dir / "reports" / "facets" / "off"
    assert rows(read_plan(out / PLAN_FILE)) == [(ADD_ONE, ADD_ONE, [PHOTOS], [])]
    assert orjson.loads((out / REPORT_FILE).read_bytes())["products_planned"] == 1

    monkeypatch.setenv("MONGO_URI", "mongodb://user:secret@127.0.0.1:1/")
    dry = run_fiber_facets("off", dry_run=True)
    assert dry.dry_run and not dry.applied

    with pytest.raises(UnsupportedFlavorError):
        run_fiber_facets("obf")


def test_run_connects_to_mongo_uri(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pymongo

    from pipelines.facets.job import run_fiber_facets
    from pipelines.facets.report import reports_dir

    world = World(data_dir, snapshot_file=data_dir / "parquet" / "off" / "products.parquet")
    world.products = [product(ADD_ONE), product(ADD_BOTH, nutrition_imgid=3)]
    world.predictions = [mention(ADD_ONE, 2), mention(ADD_BOTH, 3)]
    world.write()
    server = mongomock.MongoClient()
    server["staging"]["items"].insert_many(world.documents())
    opened: list[str] = []

    class Client:
        """pymongo.MongoClient's shape: [database][collection], close()."""

        def __init__(self, uri: str, **_: Any) -> None:
            opened.append(uri)

        def __getitem__(self, database: str) -> Any:
            return {name: MongoLikeCollection(server[database][name]) for name in ("items", "products")}

        def close(self) -> None:
            opened.append("closed")

    monkeypatch.setattr(pymongo, "MongoClient", Client)
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:27017/")
    monkeypatch.setenv("MONGO_DB", "staging")
    monkeypatch.setenv("MONGO_COLLECTION", "items")
    report = run_fiber_facets("off", batch_size=1)
    assert opened == ["mongodb://127.0.0.1:27017/", "closed"]
    assert report.applied and report.target == "staging.items"
    assert (report.round_trips, report.modified) == (2, 2)
    assert snapshot_of(server["staging"]["items"])[ADD_BOTH]["data_quality_warnings_tags"] == [
        PHOTOS,
        NUTRITION,
    ]
    assert orjson.loads((reports_dir("off") / CHECKPOINT_FILE).read_bytes())["completed"] is True

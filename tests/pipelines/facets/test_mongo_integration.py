"""The facet writer against a real MongoDB (opt-in: runs only when ``MONGO_URI`` is set).

Uses a database of its own, ``offpipe_test_<uuid>``, dropped afterwards: never Product Opener's ``off``.
Also checks, on the real server, the two behaviours ``tests/support/mongo.py`` emulates for mongomock.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient, UpdateOne
from pymongo.errors import BulkWriteError

from pipelines.facets.apply import apply_plan
from tests.pipelines.facets.conftest import NUTRITION, PHOTOS, World, mention, product
from tests.support.mongo import CONFLICT_CODE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("MONGO_URI"), reason="MONGO_URI is not set"),
]

CODE = "3000000000024"
OTHER = "en:ingredients-percent-analysis-not-ok"


@pytest.fixture
def collection() -> Iterator[Any]:
    client: MongoClient = MongoClient(os.environ["MONGO_URI"], serverSelectionTimeoutMS=10_000)
    name = f"offpipe_test_{uuid.uuid4().hex}"
    try:
        yield client[name]["products"]
    finally:
        client.drop_database(name)
        client.close()


def test_add_twice_then_remove(collection: Any, tmp_path: Path) -> None:
    collection.insert_one({"code": CODE, "data_quality_tags": [OTHER], "data_quality_warnings_tags": [OTHER]})
    world = World(tmp_path)
    world.products = [product(CODE, nutrition_imgid=3, tags=[OTHER], warnings=[OTHER])]
    world.predictions = [mention(CODE, 3)]
    plan = world.write().plan()

    first = apply_plan(collection, plan, checkpoint=tmp_path / "checkpoint.json")
    assert (first.matched, first.modified, first.round_trips) == (1, 1, 1)
    doc = collection.find_one({"code": CODE})
    assert doc["data_quality_tags"] == doc["data_quality_warnings_tags"] == [OTHER, PHOTOS, NUTRITION]

    again = apply_plan(collection, plan)  # no checkpoint: sent again, changes nothing
    assert (again.matched, again.modified) == (1, 0)

    world.products = [product(CODE, has_fiber=True, tags=doc["data_quality_tags"], warnings=[PHOTOS, OTHER])]
    removal = world.write().plan()
    removed = apply_plan(collection, removal)
    assert removed.modified == 1
    doc = collection.find_one({"code": CODE})
    assert doc["data_quality_tags"] == doc["data_quality_warnings_tags"] == [OTHER]


def test_server_behaviours_the_fake_emulates(collection: Any) -> None:
    collection.insert_one({"code": CODE, "data_quality_tags": ["en:a"]})
    each = {"$addToSet": {"data_quality_tags": {"$each": ["en:b", "en:b", "en:a"]}}}
    result = collection.bulk_write([UpdateOne({"code": CODE}, each)], ordered=False)
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert collection.find_one({"code": CODE})["data_quality_tags"] == ["en:a", "en:b"]

    conflicting = {
        "$addToSet": {"data_quality_tags": {"$each": ["en:c"]}},
        "$pull": {"data_quality_tags": "en:a"},
    }
    with pytest.raises(BulkWriteError) as failed:
        collection.bulk_write([UpdateOne({"code": CODE}, conflicting)], ordered=False)
    assert [e["code"] for e in failed.value.details["writeErrors"]] == [CONFLICT_CODE]

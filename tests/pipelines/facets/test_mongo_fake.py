"""Why ``tests/support/mongo.py`` exists, and that it behaves like MongoDB where the writer depends on it.

Each mongomock bug is shown on plain mongomock first: when one of these tests fails after a mongomock
upgrade, the bug is fixed and the matching workaround can go. The expectations on MongoDB's side are those
``test_mongo_integration.py`` checks against a real server.
"""

from __future__ import annotations

import mongomock
import pytest
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError
from pymongo.results import BulkWriteResult

from pipelines.facets.apply import FACET_FIELDS, product_updates
from tests.pipelines.facets.conftest import NUTRITION, PHOTOS
from tests.support.mongo import CONFLICT_CODE, MongoLikeCollection, dedup_add_to_set

CODE = "3017620422003"


@pytest.fixture
def raw() -> mongomock.Collection:
    collection = mongomock.MongoClient()["off"]["products"]
    collection.insert_one({"code": CODE, "data_quality_tags": ["en:a"]})
    return collection


def tags(collection: mongomock.Collection | MongoLikeCollection) -> list[str]:
    return collection.find_one({"code": CODE})["data_quality_tags"]


def test_plain_mongomock_bulk_write_fails_with_update_one(raw: mongomock.Collection) -> None:
    with pytest.raises(TypeError, match="sort"):
        raw.bulk_write([UpdateOne({"code": CODE}, {"$set": {"x": 1}})], ordered=False)


def test_plain_mongomock_keeps_duplicates_of_each(raw: mongomock.Collection) -> None:
    raw.update_one({"code": CODE}, {"$addToSet": {"data_quality_tags": {"$each": ["en:b", "en:b", "en:a"]}}})
    assert tags(raw) == ["en:a", "en:b", "en:b"]  # MongoDB gives ["en:a", "en:b"]


def test_plain_mongomock_accepts_conflicting_operators(raw: mongomock.Collection) -> None:
    update = {"$addToSet": {"data_quality_tags": {"$each": ["en:b"]}}, "$pull": {"data_quality_tags": "en:a"}}
    raw.update_one({"code": CODE}, update)  # MongoDB refuses: ConflictingUpdateOperators
    assert tags(raw) == ["en:b"]


def test_workaround_dedups_each_like_mongodb(raw: mongomock.Collection) -> None:
    assert dedup_add_to_set({"$addToSet": {"t": {"$each": ["b", "a", "b"]}}, "$set": {"x": 1}}) == {
        "$addToSet": {"t": {"$each": ["b", "a"]}},
        "$set": {"x": 1},
    }
    fake = MongoLikeCollection(raw)
    update = {"$addToSet": {"data_quality_tags": {"$each": ["en:b", "en:b", "en:a"]}}}
    result = fake.bulk_write([UpdateOne({"code": CODE}, update)], ordered=False)
    assert isinstance(result, BulkWriteResult)
    assert (result.matched_count, result.modified_count, result.upserted_count) == (1, 1, 0)
    assert tags(fake) == ["en:a", "en:b"]
    again = fake.bulk_write([UpdateOne({"code": CODE}, update)], ordered=False)
    assert (again.matched_count, again.modified_count) == (1, 0)
    missing = fake.bulk_write([UpdateOne({"code": "0000"}, update)], ordered=False)
    assert (missing.matched_count, missing.modified_count) == (0, 0)


def test_workaround_refuses_conflicting_operators_like_mongodb(raw: mongomock.Collection) -> None:
    fake = MongoLikeCollection(raw)
    conflicting = {
        "$addToSet": {"data_quality_tags": {"$each": ["en:b"]}},
        "$pull": {"data_quality_tags": "en:a"},
    }
    fine = {"$set": {"x": 1}}
    with pytest.raises(BulkWriteError) as failed:
        fake.bulk_write(
            [UpdateOne({"code": CODE}, conflicting), UpdateOne({"code": CODE}, fine)], ordered=False
        )
    assert [e["code"] for e in failed.value.details["writeErrors"]] == [CONFLICT_CODE]
    assert failed.value.details["nModified"] == 1  # unordered: the other update went through
    assert tags(fake) == ["en:a"]


def test_writer_splits_add_and_pull_so_mongodb_accepts_them(raw: mongomock.Collection) -> None:
    updates = product_updates(CODE, [PHOTOS], [NUTRITION])
    assert [list(u._doc) for u in updates] == [["$addToSet"], ["$pull"]]
    assert all(set(u._doc[next(iter(u._doc))]) == set(FACET_FIELDS) for u in updates)
    raw.update_one({"code": CODE}, {"$set": {"data_quality_tags": [NUTRITION, "en:a"]}})
    result = MongoLikeCollection(raw).bulk_write(updates, ordered=False)
    assert result.modified_count == 2
    assert tags(raw) == ["en:a", PHOTOS]
    assert raw.find_one({"code": CODE})["data_quality_warnings_tags"] == [PHOTOS]

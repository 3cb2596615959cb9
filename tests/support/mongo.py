"""A mongomock collection that behaves like MongoDB where the facet writer depends on it.

mongomock 4.3 with pymongo 4.x has two bugs that matter here (``tests/pipelines/facets/test_mongo_fake.py``
shows each of them on plain mongomock, so this module can go when they are fixed):

- ``bulk_write([UpdateOne(…)])`` raises ``TypeError`` (pymongo 4.11+ passes a ``sort`` argument that
  mongomock's bulk builder does not take);
- ``$addToSet`` with ``$each`` keeps duplicates of the ``$each`` list (MongoDB adds each value once).

And one leniency: mongomock applies an update that touches the same field with two operators, which MongoDB
refuses (``ConflictingUpdateOperators``, code 40). :class:`MongoLikeCollection` fixes the three, in the tests
only: production code talks to real pymongo collections and must never rely on a fake's quirk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mongomock
from pymongo import UpdateOne
from pymongo.errors import AutoReconnect, BulkWriteError
from pymongo.results import BulkWriteResult

CONFLICT_CODE = 40  # MongoDB's ConflictingUpdateOperators


def dedup_add_to_set(update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` with each ``$addToSet``/``$each`` list reduced to its first occurrences, as MongoDB does."""
    fixed = dict(update)
    if "$addToSet" in fixed:
        fields = {}
        for name, value in fixed["$addToSet"].items():
            if isinstance(value, Mapping) and "$each" in value:
                unique: list[Any] = []
                for item in value["$each"]:
                    if item not in unique:
                        unique.append(item)
                value = dict(value) | {"$each": unique}
            fields[name] = value
        fixed["$addToSet"] = fields
    return fixed


def conflicting_paths(update: Mapping[str, Any]) -> list[str]:
    """Paths two operators of ``update`` both touch (or one inside the other): MongoDB refuses those."""
    seen: list[tuple[str, str]] = []
    conflicts = []
    for operator, fields in update.items():
        for path in fields:
            for other_operator, other in seen:
                overlap = path == other or path.startswith(other + ".") or other.startswith(path + ".")
                if overlap and other_operator != operator:
                    conflicts.append(path)
            seen.append((operator, path))
    return conflicts


class MongoLikeCollection:
    """A mongomock collection whose ``bulk_write`` applies each ``UpdateOne`` as MongoDB would.

    Every other attribute (``find``, ``insert_many``, ``full_name``…) is the mongomock collection's.
    ``calls`` counts ``bulk_write`` calls (round trips).
    """

    def __init__(self, collection: mongomock.Collection) -> None:
        self._collection = collection
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def bulk_write(self, requests: Sequence[UpdateOne], ordered: bool = True, **_: Any) -> BulkWriteResult:
        self.calls += 1
        matched = modified = upserted = 0
        errors = []
        for index, request in enumerate(requests):
            if not isinstance(request, UpdateOne):
                raise NotImplementedError(f"only UpdateOne is emulated, not {type(request).__name__}")
            update = request._doc
            conflicts = conflicting_paths(update)
            if conflicts:
                message = f"Updating the path '{conflicts[0]}' would create a conflict at '{conflicts[0]}'"
                errors.append({"index": index, "code": CONFLICT_CODE, "errmsg": message, "op": request})
                if ordered:
                    break
                continue
            result = self._collection.update_one(request._filter, dedup_add_to_set(update), request._upsert)
            matched += result.matched_count
            modified += result.modified_count
            upserted += int(result.upserted_id is not None)
        counts = {
            "nMatched": matched,
            "nModified": modified,
            "nUpserted": upserted,
            "nInserted": 0,
            "nRemoved": 0,
            "upserted": [],
            "writeErrors": errors,
            "writeConcernErrors": [],
        }
        if errors:
            raise BulkWriteError(counts)
        return BulkWriteResult(counts, acknowledged=True)


class FlakyCollection(MongoLikeCollection):
    """Fails the ``fail_on_call``-th ``bulk_write`` (1-based) after applying the first half of its requests:
    the connection dropped while the server was part-way through an unordered batch."""

    def __init__(self, collection: mongomock.Collection, fail_on_call: int) -> None:
        super().__init__(collection)
        self.fail_on_call = fail_on_call

    def bulk_write(
        self, requests: Sequence[UpdateOne], ordered: bool = True, **kwargs: Any
    ) -> BulkWriteResult:
        if self.calls + 1 == self.fail_on_call:
            super().bulk_write(list(requests)[: len(requests) // 2], ordered=ordered, **kwargs)
            raise AutoReconnect("connection closed (injected failure)")
        return super().bulk_write(requests, ordered=ordered, **kwargs)


def mongo_like(database: str = "off", name: str = "products") -> MongoLikeCollection:
    """A fresh in-memory products collection."""
    return MongoLikeCollection(mongomock.MongoClient()[database][name])

"""Product Opener's Redis events, parsed and validated before anything acts on them.

Two streams (Robotoff's ``robotoff/workers/update_listener.py``, ``../shared/data/events/``): product updates
(``timestamp, code, rev, product_type, flavor, user_id, action, comment, diffs``; ``diffs`` is a JSON string)
and OCR results (``timestamp, code, image_id, json_url, product_type``). Every value on the wire is a string
(or bytes, as redis-py returns them without ``decode_responses``). An event becomes one of:

- a :class:`ProductEvent` or :class:`OcrEvent`: the work to do, with a normalized, validated barcode and the
  flavor its ``product_type`` maps to (food → off, beauty → obf, petfood → opff, product → opf);
- a :class:`Skipped` event: valid but not ours to act on (Robotoff's own edits, actions nobody handles);
- an :class:`InvalidEventError`: no usable code, product type or action, or more image ids than a product
  can have — the listener acknowledges it and copies it, with the reason, to its dead-letter stream.

Codes get the strict check of :func:`pipelines.barcodes.strict_code`: digits or a GS1 form, nothing else.
Reducing ``\\xff\\xfe301428\\x80`` to its digits made it product ``00301428``; such a code is invalid
(``invalid_code``), never rewritten into another product's code (``docs/listener.md``).

What a product update means follows Robotoff's listener (first matching branch): deleted; image uploaded
(``diffs.uploaded_images.add``); product type changed (``product_type`` in ``diffs.fields.change``); image
deleted (``diffs.uploaded_images.delete``); otherwise updated. Unlike Robotoff, every added or deleted image
id is kept, not only the first, and an event whose ``diffs`` is missing, not JSON or larger than
:data:`MAX_DIFFS_BYTES` is a plain update of the whole product (unknown changes), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from pipelines.barcodes import InvalidBarcodeError, strict_code
from pipelines.common.config import PRODUCT_TYPE_FLAVORS, Flavor
from pipelines.common.errors import OffpipeError
from pipelines.common.http import EDIT_COMMENT_MARK

MAX_DIFFS_BYTES = 256 * 1024  # a diff larger than this is not parsed: the product is refreshed as a whole
MAX_FIELD_BYTES = 4096  # codes, ids, user ids, comments: longer values are cut before use
# Image ids one event may name (added or deleted). An upload event names the images of one upload, a deletion
# at most every image of the product; the most photographed products have a few hundred (the real sample's
# largest has 78). Beyond this the event is corrupt: dead-lettered whole (``too_many_images``) rather than
# truncated, which would apply an arbitrary part of it silently.
MAX_IMAGE_IDS = 500
ROBOTOFF_USERS = frozenset({"roboto-app"})
ROBOTOFF_COMMENT_MARK = "[robotoff]"
OWN_COMMENT_MARK = EDIT_COMMENT_MARK  # the project's own write-back edits (docs/annotate.md)
MASS_UPDATE_USERS = frozenset({"scanbot", "update_all_products"})
_IMAGE_ID = re.compile(r"[0-9]{1,9}")
UPDATE_ACTIONS = frozenset({"updated", "created", "reprocessed"})  # creation is sent as "updated" anyway
DELETE_ACTIONS = frozenset({"deleted"})
IGNORED_ACTIONS = frozenset({"archived", "unarchived"})  # documented by Product Opener, handled by nobody


class Kind(StrEnum):
    """What an event asks the pipeline to do for one product."""

    updated = "updated"
    deleted = "deleted"
    image_uploaded = "image_uploaded"
    image_deleted = "image_deleted"
    type_changed = "type_changed"
    ocr_ready = "ocr_ready"


class Lane(StrEnum):
    """Editors' events go first; mass updates (bots, scripts) wait behind them."""

    high = "high"
    low = "low"


class InvalidEventError(OffpipeError, ValueError):
    """An event nothing can be done with; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Skipped:
    """A valid event that needs no work (``reason``: ``robotoff_edit``, ``own_edit``, ``ignored_action``)."""

    stream: str
    entry_id: str
    reason: str


@dataclass(frozen=True)
class ProductEvent:
    """One product update, ready to act on."""

    stream: str
    entry_id: str
    code: str  # normalized and valid: safe for paths, URLs, SQL parameters and MongoDB filters
    raw_code: str
    flavor: Flavor
    kind: Kind
    lane: Lane
    user_id: str
    action: str
    image_ids: tuple[str, ...] = ()  # added (image_uploaded) or deleted (image_deleted) image ids
    diffs: Mapping[str, Any] | None = None  # None: unknown changes (absent, not JSON, or too large)


@dataclass(frozen=True)
class OcrEvent:
    """The OCR result of one image is ready (its URL is rebuilt from the barcode rules, never taken)."""

    stream: str
    entry_id: str
    code: str
    raw_code: str
    flavor: Flavor
    image_id: str
    kind: Kind = Kind.ocr_ready
    lane: Lane = Lane.high


def _text(fields: Mapping[Any, Any], name: str) -> str | None:
    """A field as text (bytes decoded leniently), cut to :data:`MAX_FIELD_BYTES`; None when absent."""
    value = fields.get(name, fields.get(name.encode()))
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value[:MAX_FIELD_BYTES].decode("utf-8", errors="replace")
    return str(value)[:MAX_FIELD_BYTES]


def _barcode(fields: Mapping[Any, Any]) -> tuple[str, str]:
    """The event's normalized code and its raw form (surrounding whitespace removed), or ``invalid_code``."""
    raw = (_text(fields, "code") or "").strip(" \t\n\r\f\v")
    if not raw:
        raise InvalidEventError("no_code", "the event has no code")
    try:
        return strict_code(raw), raw
    except InvalidBarcodeError:
        raise InvalidEventError("invalid_code", f"code {raw[:40]!r} is not a valid barcode") from None


def _flavor(fields: Mapping[Any, Any]) -> Flavor:
    product_type = (_text(fields, "product_type") or "").strip()
    flavor = PRODUCT_TYPE_FLAVORS.get(product_type)
    if flavor is None:
        raise InvalidEventError("unknown_product_type", f"product_type {product_type[:40]!r}")
    return flavor


def _diffs(fields: Mapping[Any, Any]) -> Mapping[str, Any] | None:
    raw = fields.get("diffs", fields.get(b"diffs"))
    if raw is None or len(raw) > MAX_DIFFS_BYTES:
        return None
    try:
        diffs = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return diffs if isinstance(diffs, dict) else None


def _image_ids(diffs: Mapping[str, Any] | None, change: str) -> tuple[str, ...]:
    """Digit image ids of ``diffs.uploaded_images.<change>`` (others are dropped), in order, once each;
    ``too_many_images`` when the list is longer than :data:`MAX_IMAGE_IDS`."""
    section = (diffs or {}).get("uploaded_images")
    values = section.get(change) if isinstance(section, dict) else None
    if not isinstance(values, list):
        return ()
    if len(values) > MAX_IMAGE_IDS:
        raise InvalidEventError(
            "too_many_images", f"{len(values)} image ids to {change} (at most {MAX_IMAGE_IDS})"
        )
    ids = (str(v) for v in values if isinstance(v, str | int) and not isinstance(v, bool))
    return tuple(dict.fromkeys(i for i in ids if _IMAGE_ID.fullmatch(i)))


def _changed_fields(diffs: Mapping[str, Any] | None) -> list[Any]:
    section = (diffs or {}).get("fields")
    change = section.get("change") if isinstance(section, dict) else None
    return change if isinstance(change, list) else []


def _kind(action: str, diffs: Mapping[str, Any] | None) -> tuple[Kind, tuple[str, ...]]:
    if action in DELETE_ACTIONS:
        return Kind.deleted, ()
    added, deleted = _image_ids(diffs, "add"), _image_ids(diffs, "delete")  # both checked against the cap
    if added:
        return Kind.image_uploaded, added
    if "product_type" in _changed_fields(diffs):
        return Kind.type_changed, ()
    if deleted:
        return Kind.image_deleted, deleted
    return Kind.updated, ()


def parse_product_event(
    stream: str,
    entry_id: str,
    fields: Mapping[Any, Any],
    *,
    robotoff_users: frozenset[str] = ROBOTOFF_USERS,
    mass_update_users: frozenset[str] = MASS_UPDATE_USERS,
    own_users: frozenset[str] = frozenset(),
) -> ProductEvent | Skipped:
    """A product-update stream entry as work to do, a skip, or :class:`InvalidEventError`."""
    code, raw_code = _barcode(fields)
    flavor = _flavor(fields)
    action = (_text(fields, "action") or "").strip()
    if action in IGNORED_ACTIONS:
        return Skipped(stream, entry_id, "ignored_action")
    if action not in UPDATE_ACTIONS | DELETE_ACTIONS:
        raise InvalidEventError("unknown_action", f"action {action[:40]!r}")
    user_id = (_text(fields, "user_id") or "").strip()
    comment = _text(fields, "comment") or ""
    if user_id in robotoff_users or ROBOTOFF_COMMENT_MARK in comment:
        return Skipped(stream, entry_id, "robotoff_edit")
    if user_id in own_users or OWN_COMMENT_MARK in comment:
        return Skipped(stream, entry_id, "own_edit")
    diffs = _diffs(fields) if action not in DELETE_ACTIONS else None
    kind, image_ids = _kind(action, diffs)
    return ProductEvent(
        stream=stream,
        entry_id=entry_id,
        code=code,
        raw_code=raw_code,
        flavor=flavor,
        kind=kind,
        lane=Lane.low if user_id in mass_update_users else Lane.high,
        user_id=user_id,
        action=action,
        image_ids=image_ids,
        diffs=diffs,
    )


def parse_ocr_event(stream: str, entry_id: str, fields: Mapping[Any, Any]) -> OcrEvent:
    """An OCR-ready stream entry as work to do, or :class:`InvalidEventError` (``json_url`` is ignored)."""
    code, raw_code = _barcode(fields)
    flavor = _flavor(fields)
    image_id = (_text(fields, "image_id") or "").strip()
    if not _IMAGE_ID.fullmatch(image_id):
        raise InvalidEventError("invalid_image_id", f"image_id {image_id[:40]!r}")
    return OcrEvent(stream, entry_id, code, raw_code, flavor, image_id)

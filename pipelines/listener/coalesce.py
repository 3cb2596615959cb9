"""Coalescing: the events of a short window become one unit of work per product.

Product Opener sends an event per save: an editor fixing a product sends several in a minute, an image
upload sends an upload event and, later, an OCR-ready event. The listener holds events for
``OFF_LISTENER_DELAY_S`` and folds those of one product into one :class:`ProductWork`, applied by one run;
every entry it folded in is acknowledged once that work is committed. Folding follows the events' order
(entry ids): a deletion cancels what came before it, an update after a deletion brings the product back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pipelines.barcodes import strict_code
from pipelines.common.config import Flavor
from pipelines.listener.events import Kind, Lane, OcrEvent, ProductEvent


def entry_time(entry_id: str) -> dt.datetime:
    """The time Redis gave a stream entry (its id is ``<unix ms>-<seq>``): when the event was published."""
    millis = entry_id.partition("-")[0]
    return dt.datetime.fromtimestamp(int(millis) / 1000 if millis.isdigit() else 0, dt.UTC)


class ImageOp(NamedTuple):
    """One change to the image table: ``upload`` of ``image_id`` at ``at``, or ``delete`` of ``image_id``
    (None: every image of the product, which was deleted)."""

    code: str
    kind: str
    image_id: str | None
    at: dt.datetime | None


@dataclass
class ProductWork:
    """What to do for one product after a window of events."""

    code: str
    flavor: Flavor  # the flavor of the product's latest event
    raw_code: str = ""  # the code as the latest event wrote it (for files still under the legacy path)
    lane: Lane = Lane.low
    deleted: bool = False  # delete its predictions and unannotated insights (and nothing else)
    update: bool = False  # re-predict from the product's fields and refresh its insights
    type_changed: bool = False  # its work moves from any other flavor to ``flavor``
    images_added: dict[str, dt.datetime] = field(default_factory=dict)  # image id → upload event's time
    images_deleted: set[str] = field(default_factory=set)
    ocr_images: set[str] = field(default_factory=set)  # OCR results to fetch and predict from
    entries: list[tuple[str, str]] = field(default_factory=list)  # (stream, entry id) to acknowledge
    # The image table's changes, in event order (uploads, image and product deletions): applied in that
    # order, they leave the table as one event at a time would, however the events were batched.
    image_ops: list[ImageOp] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the parameters of a per-product flow run on a Prefect deployment)."""
        return {
            "code": self.code,
            "flavor": self.flavor.value,
            "raw_code": self.raw_code,
            "lane": self.lane.value,
            "deleted": self.deleted,
            "update": self.update,
            "type_changed": self.type_changed,
            "images_added": {image: at.isoformat() for image, at in sorted(self.images_added.items())},
            "images_deleted": sorted(self.images_deleted),
            "ocr_images": sorted(self.ocr_images),
            "entries": [list(entry) for entry in self.entries],
            "image_ops": [
                [op.code, op.kind, op.image_id, op.at.isoformat() if op.at else None] for op in self.image_ops
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProductWork:
        """The unit :meth:`to_dict` gave, its code and image ids checked again (flow parameters are input)."""
        code = strict_code(data["code"])
        if code != data["code"]:
            raise ValueError(f"not a normalized code: {data['code']!r}")
        raw_code = str(data.get("raw_code") or code)
        if strict_code(raw_code) != code:  # the legacy image URLs are built from it
            raise ValueError(f"raw code {raw_code!r} does not stand for {code}")
        ids = [*data.get("images_added", {}), *data.get("images_deleted", ()), *data.get("ocr_images", ())]
        ids += [op[2] for op in data.get("image_ops", ()) if op[2] is not None]
        if not all(isinstance(i, str) and i.isascii() and i.isdigit() for i in ids):
            raise ValueError("image ids must be digits")
        return cls(
            code=code,
            flavor=Flavor(data["flavor"]),
            raw_code=raw_code,
            lane=Lane(data.get("lane", Lane.high.value)),
            deleted=bool(data.get("deleted")),
            update=bool(data.get("update")),
            type_changed=bool(data.get("type_changed")),
            images_added={i: dt.datetime.fromisoformat(at) for i, at in data.get("images_added", {}).items()},
            images_deleted=set(data.get("images_deleted", ())),
            ocr_images=set(data.get("ocr_images", ())),
            entries=[(str(s), str(i)) for s, i in data.get("entries", ())],
            image_ops=[
                ImageOp(code, kind, image, dt.datetime.fromisoformat(at) if at else None)
                for _, kind, image, at in data.get("image_ops", ())
                if kind in ("upload", "delete")
            ],
        )

    def fold(self, event: ProductEvent | OcrEvent) -> None:
        """Apply one more event (the latest so far) to the unit."""
        self.entries.append((event.stream, event.entry_id))
        self.raw_code = event.raw_code
        if event.lane is Lane.high:
            self.lane = Lane.high
        if event.flavor is not self.flavor:
            self.type_changed = True  # the product_type of a code changed within the window
            self.flavor = event.flavor
        if isinstance(event, OcrEvent):
            if not self.deleted:
                self.ocr_images.add(event.image_id)
            return
        match event.kind:
            case Kind.deleted:
                self.image_ops.append(ImageOp(self.code, "delete", None, None))
                self.deleted = True
                self.update = self.type_changed = False
                self.images_added.clear()
                self.images_deleted.clear()
                self.ocr_images.clear()
            case Kind.image_uploaded:
                self.deleted = False
                at = entry_time(event.entry_id)
                self.image_ops += [ImageOp(self.code, "upload", image, at) for image in event.image_ids]
                self.images_added.update(dict.fromkeys(event.image_ids, entry_time(event.entry_id)))
                self.images_deleted.difference_update(event.image_ids)
            case Kind.image_deleted:
                self.deleted = False
                self.image_ops += [ImageOp(self.code, "delete", image, None) for image in event.image_ids]
                self.images_deleted.update(event.image_ids)
                for image_id in event.image_ids:
                    self.images_added.pop(image_id, None)
                self.ocr_images.difference_update(event.image_ids)
            case Kind.type_changed:
                self.deleted = False
                self.type_changed = self.update = True
            case _:
                self.deleted = False
                self.update = True


def coalesce(events: Iterable[ProductEvent | OcrEvent]) -> list[ProductWork]:
    """One unit per product code, in the order products first appear; events are folded in their order."""
    units: dict[str, ProductWork] = {}
    for event in events:
        unit = units.get(event.code)
        if unit is None:
            unit = units[event.code] = ProductWork(code=event.code, flavor=event.flavor)
        unit.fold(event)
    return list(units.values())

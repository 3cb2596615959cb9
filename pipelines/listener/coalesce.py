"""Coalescing: the events of a short window become one unit of work per product.

Product Opener sends an event per save: an editor fixing a product sends several in a minute, an image
upload sends an upload event and, later, an OCR-ready event. The listener holds events for
``OFF_LISTENER_DELAY_S`` and folds those of one product into one :class:`ProductWork`, applied by one run;
every entry it folded in is acknowledged once that work is committed. Folding follows the events' order
(entry ids): a deletion cancels what came before it, an update after a deletion brings the product back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from pipelines.config import Flavor
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

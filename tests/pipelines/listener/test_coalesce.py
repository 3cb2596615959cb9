"""Coalescing a window of events into one unit of work per product, in event order."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pipelines.common.config import Flavor
from pipelines.listener.coalesce import coalesce
from pipelines.listener.events import Lane, OcrEvent, ProductEvent, parse_ocr_event, parse_product_event

A, B = "3017620422003", "5449000000996"
_counter = iter(range(1, 10**9))


def update(
    code: str = A, *, action: str = "updated", diffs: dict | None = None, **fields: str
) -> ProductEvent:
    entry = {"code": code, "product_type": "food", "action": action, "user_id": "alice"} | fields
    entry["diffs"] = json.dumps(diffs or {})
    event = parse_product_event("updates", f"{next(_counter)}-0", entry)
    assert isinstance(event, ProductEvent)
    return event


def ocr(code: str = A, image_id: str = "1", product_type: str = "food") -> OcrEvent:
    fields = {"code": code, "product_type": product_type, "image_id": image_id}
    return parse_ocr_event("ocr_ready", f"{next(_counter)}-0", fields)


def test_one_unit_per_product_with_every_entry_to_acknowledge() -> None:
    events = [update(A), update(B), update(A, diffs={"uploaded_images": {"add": ["4"]}}), ocr(A, "4")]
    first, second = coalesce(events)
    assert (first.code, second.code) == (A, B)
    assert first.entries == [(e.stream, e.entry_id) for e in events if e.code == A]
    assert (first.update, set(first.images_added), first.ocr_images) == (True, {"4"}, {"4"})
    assert (second.update, set(second.images_added), second.ocr_images) == (True, set(), set())


def test_a_deletion_cancels_what_came_before_and_an_update_brings_the_product_back() -> None:
    [gone] = coalesce(
        [update(diffs={"uploaded_images": {"add": ["2"]}}), ocr(image_id="2"), update(action="deleted")]
    )
    assert gone.deleted and not gone.update and not gone.images_added and not gone.ocr_images
    [late_ocr] = coalesce([update(action="deleted"), ocr(image_id="2")])
    assert late_ocr.deleted and late_ocr.ocr_images == set()  # nothing to OCR on a deleted product
    [back] = coalesce([update(action="deleted"), update()])
    assert back.update and not back.deleted


def test_image_deletion_after_upload_and_ocr() -> None:
    [unit] = coalesce(
        [
            update(diffs={"uploaded_images": {"add": ["3", "4"]}}),
            ocr(image_id="3"),
            update(diffs={"uploaded_images": {"delete": ["3"]}}),
        ]
    )
    assert (set(unit.images_added), unit.images_deleted, unit.ocr_images, unit.update) == (
        {"4"},
        {"3"},
        set(),
        False,
    )


def test_type_change_and_lanes() -> None:
    [moved] = coalesce([update(), update(product_type="beauty")])
    assert moved.type_changed and moved.flavor is Flavor.obf and moved.update
    [declared] = coalesce([update(diffs={"fields": {"change": ["product_type"]}})])
    assert declared.type_changed and declared.update
    [bot] = coalesce([update(user_id="scanbot")])
    assert bot.lane is Lane.low
    [mixed] = coalesce([update(user_id="scanbot"), update(user_id="alice")])
    assert mixed.lane is Lane.high


_event = st.one_of(
    st.builds(lambda c: update(c), st.sampled_from([A, B])),
    st.builds(lambda c: update(c, action="deleted"), st.sampled_from([A, B])),
    st.builds(lambda c, i: ocr(c, i), st.sampled_from([A, B]), st.sampled_from(["1", "2"])),
    st.builds(
        lambda c, i: update(c, diffs={"uploaded_images": {"delete": [i]}}),
        st.sampled_from([A, B]),
        st.sampled_from(["1", "2"]),
    ),
)


@given(st.lists(_event, max_size=12))
def test_every_entry_lands_in_exactly_one_unit_and_the_last_word_wins(events: list) -> None:
    units = coalesce(events)
    acked = [entry for unit in units for entry in unit.entries]
    assert sorted(acked) == sorted((e.stream, e.entry_id) for e in events)
    for unit in units:
        mine = [e for e in events if e.code == unit.code]
        last_product_event = next((e for e in reversed(mine) if isinstance(e, ProductEvent)), None)
        if last_product_event is not None and last_product_event.action == "deleted":
            assert unit.deleted and not unit.ocr_images
        else:
            assert not unit.deleted

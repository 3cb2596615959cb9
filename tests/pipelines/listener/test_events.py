"""Parsing and validating Product Opener's Redis events: real examples, the rules, and arbitrary input."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import barcodes
from pipelines.common.config import Flavor
from pipelines.common.http import EDIT_COMMENT_MARK
from pipelines.listener.events import (
    MAX_DIFFS_BYTES,
    MAX_IMAGE_IDS,
    InvalidEventError,
    Kind,
    Lane,
    OcrEvent,
    ProductEvent,
    Skipped,
    parse_ocr_event,
    parse_product_event,
)
from tests.conftest import shared_path

CODE = "3017620422003"


def _event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "timestamp": "1700000000",
        "code": CODE,
        "rev": "7",
        "product_type": "food",
        "flavor": "off",
        "user_id": "alice",
        "action": "updated",
        "comment": "fixed the name",
        "diffs": "{}",
    }
    return {k: v for k, v in (base | fields).items() if v is not None}


def _parse(**fields: object) -> ProductEvent | Skipped:
    return parse_product_event("product_updates_off", "1700000000000-0", _event(**fields))


def _examples() -> list[dict]:
    path = shared_path("events", "redis_event_examples.jsonl")
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_real_examples_are_classified_like_robotoff() -> None:
    """The transcribed examples: the few with a valid barcode and product type become work, the test
    fixtures with codes like "1" or without product_type are dead-lettered, none raises anything else."""
    outcomes = []
    for example in _examples():
        parse = parse_ocr_event if example["stream"] == "ocr_ready" else parse_product_event
        try:
            result = parse(example["stream"], example["id"] or "0-0", example["fields"])
        except InvalidEventError as exc:
            outcomes.append(exc.reason)
            continue
        images = result.image_ids if isinstance(result, ProductEvent) else (result.image_id,)
        outcomes.append((result.kind.value, images))
    work = [o for o in outcomes if isinstance(o, tuple)]
    # 1234567890123: an image deletion, then its OCR; the rest are test codes ("1", "<random …>") or lack a
    # product type or a code
    assert work == [("image_deleted", ("4",)), ("ocr_ready", ("1",))]
    assert set(outcomes) - set(work) == {"invalid_code", "no_code", "unknown_product_type"}


@pytest.mark.parametrize(
    ("diffs", "kind", "images"),
    [
        ({}, Kind.updated, ()),
        ({"fields": {"change": ["product_name"]}}, Kind.updated, ()),
        ({"uploaded_images": {"add": ["3", 4, "3"]}}, Kind.image_uploaded, ("3", "4")),
        ({"uploaded_images": {"add": ["x"]}, "fields": {"change": ["product_type"]}}, Kind.type_changed, ()),
        ({"fields": {"change": ["countries", "product_type"]}}, Kind.type_changed, ()),
        ({"uploaded_images": {"delete": ["2", "../etc"]}}, Kind.image_deleted, ("2",)),
        # Robotoff's order: an upload wins over a type change and a deletion in the same event
        ({"uploaded_images": {"add": ["5"], "delete": ["2"]}, "fields": {"change": ["product_type"]}},
         Kind.image_uploaded, ("5",)),
    ],
)  # fmt: skip
def test_what_an_update_means(diffs: dict, kind: Kind, images: tuple[str, ...]) -> None:
    event = _parse(diffs=json.dumps(diffs))
    assert isinstance(event, ProductEvent)
    assert (event.kind, event.image_ids, event.code, event.flavor) == (kind, images, CODE, Flavor.off)


@pytest.mark.parametrize("diffs", [None, "not json", "[1, 2]", "x" * (MAX_DIFFS_BYTES + 1)])
def test_unreadable_diffs_mean_a_whole_product_update(diffs: str | None) -> None:
    event = _parse(diffs=diffs)
    assert isinstance(event, ProductEvent)
    assert (event.kind, event.diffs) == (Kind.updated, None)


def test_huge_diffs_are_not_parsed_even_when_valid_json() -> None:
    big = orjson.dumps({"uploaded_images": {"add": ["1"]}, "pad": "x" * MAX_DIFFS_BYTES}).decode()
    event = _parse(diffs=big)
    assert isinstance(event, ProductEvent) and event.kind is Kind.updated and event.diffs is None


def test_deletion_product_types_and_codes() -> None:
    deleted = _parse(action="deleted", diffs='{"uploaded_images": {"add": ["1"]}}')
    assert isinstance(deleted, ProductEvent) and deleted.kind is Kind.deleted and deleted.diffs is None
    beauty = _parse(product_type="beauty", code="0000000123")  # short code: the new normalization
    assert isinstance(beauty, ProductEvent)
    assert (beauty.flavor, beauty.code, beauty.raw_code) == (Flavor.obf, "00000123", "0000000123")
    for product_type, flavor in (("petfood", Flavor.opff), ("product", Flavor.opf)):
        event = _parse(product_type=product_type)
        assert isinstance(event, ProductEvent) and event.flavor is flavor


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"code": None}, "no_code"),
        ({"code": "  "}, "no_code"),
        ({"code": "12"}, "invalid_code"),
        ({"code": "1" * 30}, "invalid_code"),
        ({"code": "abc"}, "invalid_code"),
        ({"product_type": None}, "unknown_product_type"),
        ({"product_type": "toys"}, "unknown_product_type"),
        ({"action": "exploded"}, "unknown_action"),
        ({"action": None}, "unknown_action"),
    ],
)
def test_invalid_events_carry_their_reason(fields: dict, reason: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        _parse(**fields)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "code",
    [
        b"\xff\xfe301428\x80",  # became product 00301428
        "\xff\xfe301428\x80",
        "3017620422003'; DROP TABLE product_insight; --",  # became 3017620422003
        "3017620422003 x",
        "301762042200\u0663",  # an Arabic-Indic digit
        "３０１７６２０４２２００３",  # fullwidth digits
        "30176-20422003",
        "3017620422003\x00",
        "(01)03017620422004",  # a GS1 look-alike with a wrong check digit
        "0103017620422003';x",  # a GS1 prefix followed by junk
        "https://id.gs1.org/01/03017620422003 <script>",
    ],
)
def test_codes_with_stray_characters_are_invalid_never_rewritten(code: str | bytes) -> None:
    """``docs/reliability.md`` F24: junk is dead-lettered as ``invalid_code``, not reduced to its digits."""
    fields = _event(code=None) | {"code": code}
    for parse, extra in ((parse_product_event, {}), (parse_ocr_event, {"image_id": "1"})):
        with pytest.raises(InvalidEventError) as raised:
            parse("s", "1-0", fields | extra)
        assert raised.value.reason == "invalid_code"


@pytest.mark.parametrize(
    ("code", "normalized"),
    [
        (" 3017620422003\n", "3017620422003"),  # surrounding whitespace
        ("0000000123", "00000123"),
        ("(01)03017620422003(17)251231(10)AB12", "3017620422003"),
        ("\x1d0103017620422003", "3017620422003"),
        ("^0103017620422003172512", "3017620422003"),
        ("https://id.gs1.org/01/03017620422003/10/ABC", "3017620422003"),
    ],
)
def test_digit_codes_and_gs1_forms_are_accepted(code: str, normalized: str) -> None:
    event = _parse(code=code)
    assert isinstance(event, ProductEvent)
    assert (event.code, event.raw_code) == (normalized, code.strip(" \n"))


@pytest.mark.parametrize("change", ["add", "delete"])
def test_an_event_naming_too_many_images_is_dead_lettered_whole(change: str) -> None:
    """``docs/reliability.md`` F25: one event with 21,000 image ids created 21,000 image rows."""
    many = json.dumps({"uploaded_images": {change: [str(i) for i in range(1, 21_001)]}})
    with pytest.raises(InvalidEventError) as raised:
        _parse(diffs=many)
    assert raised.value.reason == "too_many_images"
    limit = json.dumps({"uploaded_images": {change: [str(i) for i in range(1, MAX_IMAGE_IDS + 1)]}})
    event = _parse(diffs=limit)
    assert isinstance(event, ProductEvent) and len(event.image_ids) == MAX_IMAGE_IDS
    with pytest.raises(InvalidEventError, match="too_many_images"):  # even behind an upload of one image
        _parse(diffs=json.dumps({"uploaded_images": {"add": ["1"], "delete": list(range(1, 600))}}))


def test_robotoff_edits_and_ignored_actions_are_skipped() -> None:
    assert _parse(user_id="roboto-app") == Skipped("product_updates_off", "1700000000000-0", "robotoff_edit")
    assert isinstance(_parse(comment="[robotoff] brand added"), Skipped)
    assert isinstance(_parse(user_id="bob"), ProductEvent)
    custom = parse_product_event("s", "1-0", _event(user_id="my-bot"), robotoff_users=frozenset({"my-bot"}))
    assert isinstance(custom, Skipped)
    assert _parse(action="archived") == Skipped("product_updates_off", "1700000000000-0", "ignored_action")


def test_the_projects_own_edits_are_skipped() -> None:
    """Our write-back edits (docs/annotate.md) carry the comment mark and are made as OFF_USER."""
    marked = _parse(user_id="alice", comment=f"{EDIT_COMMENT_MARK} Adding label tag 'en:organic', ID: x")
    assert marked == Skipped("product_updates_off", "1700000000000-0", "own_edit")
    ours = parse_product_event(
        "s", "1-0", _event(user_id="offpipe-bot"), own_users=frozenset({"offpipe-bot"})
    )
    assert ours == Skipped("s", "1-0", "own_edit")
    assert isinstance(_parse(user_id="offpipe-bot"), ProductEvent)  # skipped only as the configured account


def test_mass_updates_take_the_low_lane() -> None:
    for user, lane in (("scanbot", Lane.low), ("update_all_products", Lane.low), ("alice", Lane.high)):
        event = _parse(user_id=user)
        assert isinstance(event, ProductEvent) and event.lane is lane


def test_bytes_fields_as_redis_py_returns_them() -> None:
    raw = {k.encode(): str(v).encode() for k, v in _event(diffs='{"uploaded_images":{"add":["9"]}}').items()}
    event = parse_product_event("product_updates_off", "1-0", raw)
    assert isinstance(event, ProductEvent) and (event.code, event.image_ids) == (CODE, ("9",))


def test_ocr_events() -> None:
    fields = {
        "code": CODE,
        "product_type": "food",
        "image_id": "3",
        "json_url": "https://evil.example/x.json",
    }
    event = parse_ocr_event("ocr_ready", "5-0", fields)
    assert event == OcrEvent("ocr_ready", "5-0", CODE, CODE, Flavor.off, "3")
    for bad in ("", "3.jpg", "../1", "12345678901"):
        with pytest.raises(InvalidEventError, match="invalid_image_id"):
            parse_ocr_event("ocr_ready", "5-0", fields | {"image_id": bad})


_values = st.one_of(st.none(), st.text(max_size=40), st.binary(max_size=40), st.integers().map(str))
_fields = st.fixed_dictionaries(
    {},
    optional={
        name: _values
        for name in ("code", "product_type", "action", "user_id", "comment", "diffs", "image_id")
    },
).map(lambda d: {k: v for k, v in d.items() if v is not None})


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fields)
def test_arbitrary_entries_either_parse_to_safe_values_or_are_rejected(fields: dict) -> None:
    for parse in (parse_product_event, parse_ocr_event):
        try:
            event = parse("stream", "1-0", fields)
        except InvalidEventError as exc:
            assert exc.reason
            continue
        if isinstance(event, Skipped):
            continue
        # whatever came in, what goes out is a digit barcode and digit image ids
        assert event.code.isdigit() and event.code.isascii() and 8 <= len(event.code) <= 24
        # …that the code stands for as it is (digits or a GS1 form), never the digits picked out of junk
        assert barcodes.is_strict_code(event.raw_code)
        assert event.code == barcodes.normalize_code(event.raw_code)
        images = event.image_ids if isinstance(event, ProductEvent) else (event.image_id,)
        assert all(i.isdigit() and i.isascii() for i in images)

"""The write-back run on both stores: due insights read, decided from the product's current state on a
Product Opener stand-in (its read API is the product source), written there, and recorded in the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.annotate import job
from pipelines.annotate.job import RunReport, apply_due_insights
from pipelines.common.config import get_settings
from pipelines.store.db import open_store
from tests.pipelines.annotate.conftest import DUE, IMAGE, A, B, C, seed
from tests.pipelines.insights.conftest import NOW, Store, prediction, product
from tests.support.product_opener import ProductOpener


def run(store: Store, server: ProductOpener, tmp_path: Path, **kwargs: Any) -> RunReport:
    """One run as `offpipe insights apply` makes it, the stand-in as Product Opener and product source."""
    env = {
        "OFF_DATA_DIR": str(tmp_path / "data"),
        "OFF_WORLD_URL_OFF": server.base,
        "OFF_PRODUCT_SOURCES": "api",
    }
    settings = get_settings(env)
    kwargs.setdefault("now", DUE)
    kwargs.setdefault("mode", "apply")
    kwargs |= {"settings": settings, "rate": 0, "resources": store.resources}
    if store.backend == "postgresql":
        return apply_due_insights("off", store=store.url, **kwargs)  # type: ignore[union-attr]
    store.con.close()  # type: ignore[union-attr]  # the run opens the file itself, as another process would
    try:
        return apply_due_insights("off", store=store.path, **kwargs)  # type: ignore[union-attr]
    finally:
        store.con = open_store(store.path)  # type: ignore[union-attr]


def annotations(store: Store) -> dict[tuple[str, str], tuple[Any, Any, bool]]:
    """(barcode, type) → (annotation, annotated_result, completed)."""
    return {
        (i["barcode"], i["type"]): (i["annotation"], i["annotated_result"], i["completed_at"] is not None)
        for i in store.insights()
    }


def test_due_insights_are_written_once_and_recorded(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    report = run(store, opener, tmp_path)
    assert (report.due, report.sent, report.recorded) == (3, 2, 3)
    assert report.statuses == {"updated": 2, "error_already_annotated": 1}
    writes = sorted(opener.writes(), key=lambda w: w["code"])
    assert [(w["code"], w.get("add_stores"), w.get("emb_codes")) for w in writes] == [
        (A, "Auchan", None),
        (B, None, "FR 12.345.678 CE,EMB 29181"),
    ]
    assert all(
        w["comment"].startswith("[offpipe] ") and w["comment"].endswith("(automated edit)") for w in writes
    )
    assert opener.products[A]["stores_tags"] == ["carrefour", "auchan"]
    assert annotations(store) == {
        (A, "store"): (1, 2, True),
        (B, "packager_code"): (1, 2, True),
        (C, "store"): (1, None, True),  # already done: Robotoff records no result for it
        (C, "packager_code"): (None, None, False),  # not automatic: never applied
    }
    again = run(store, opener, tmp_path)
    assert (again.due, again.sent) == (0, 0) and len(opener.writes()) == 2


def test_nothing_is_due_before_process_after(store: Store, opener: ProductOpener, tmp_path: Path) -> None:
    seed(store)
    report = run(store, opener, tmp_path, now=NOW + dt.timedelta(minutes=9))
    assert report.due == 0 and opener.writes() == [] and opener.reads == []


def test_plan_mode_sends_and_records_nothing(store: Store, opener: ProductOpener, tmp_path: Path) -> None:
    seed(store)
    report = run(store, opener, tmp_path, mode="plan")
    assert opener.writes() == [] and report.sent == 0
    assert all(annotation is None for annotation, _, _ in annotations(store).values())
    plan = pq.read_table(report.plan).to_pylist()
    decisions = sorted((row["barcode"], row["decision"], row["fields"]) for row in plan)
    assert decisions == [
        (A, "send", [("add_stores", "Auchan")]),
        (B, "send", [("emb_codes", "FR 12.345.678 CE,EMB 29181")]),
        (C, "error_already_annotated", None),
    ]
    markdown = Path(report.plan).with_suffix(".md").read_text()  # type: ignore[arg-type]
    assert "3 due insights: 2 calls to Product Opener" in markdown


def test_a_failure_that_may_pass_later_leaves_the_insight_due(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    opener.fail.status_500 = 1
    first = run(store, opener, tmp_path)
    assert (first.sent, first.retry_later, first.recorded) == (2, 1, 2)
    assert attempts(store) == [(1, "Product Opener answered HTTP 500", False)]
    assert run(store, opener, tmp_path, now=DUE + dt.timedelta(seconds=100)).due == 0  # backing off (120 s)
    second = run(store, opener, tmp_path, now=DUE + dt.timedelta(seconds=130))
    assert (second.due, second.sent, second.statuses) == (1, 1, {"updated": 1})
    assert {annotation for annotation, _, _ in annotations(store).values()} == {1, None}  # C's code only
    assert attempts(store) == []  # written: its count is forgotten


def attempts(store: Store) -> list[tuple[int, str, bool]]:
    """(attempts, last error, given up) of each insight with failed calls."""
    table = "offpipe.annotate_attempt" if store.backend == "postgresql" else "annotate_attempt"
    query = f"SELECT attempts, last_error, retry_after IS NULL FROM {table} ORDER BY insight_id"
    return [(n, error.split(":")[0], done) for n, error, done in store.sql(query)]


def test_transient_failures_back_off_then_give_up(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    opener.fail.status_500 = 100
    backoff = job.Backoff(attempts=3, first_s=60, max_s=100)
    now = DUE
    first = run(store, opener, tmp_path, now=now, backoff=backoff)
    assert (first.sent, first.retry_later) == (2, 2)
    # waits 60 s, then 100 (doubled, capped), then gives up at the third failed call
    for wait, due in ((59, 0), (1, 2), (99, 0), (1, 2)):
        now += dt.timedelta(seconds=wait)
        assert run(store, opener, tmp_path, now=now, backoff=backoff).due == due
    last = run(store, opener, tmp_path, now=now + dt.timedelta(days=1), backoff=backoff)
    assert last.due == 0
    assert sorted(result for _, result, _ in annotations(store).values() if result) == [10, 10]
    assert attempts(store) == [(3, "gave up after 3 attempts", True)] * 2
    assert len(opener.writes()) == 6  # two insights, three calls each


def test_a_refused_call_keeps_its_reason(store: Store, opener: ProductOpener, tmp_path: Path) -> None:
    seed(store)
    opener.fail.status_4xx = 1
    run(store, opener, tmp_path)
    assert attempts(store) == [(1, "Product Opener answered HTTP 403", True)]


def test_a_refused_call_is_recorded_failed_and_not_sent_again(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    opener.fail.status_4xx = 1
    first = run(store, opener, tmp_path)
    assert first.statuses == {"error_failed_update": 1, "updated": 1, "error_already_annotated": 1}
    assert sorted(result for _, result, _ in annotations(store).values() if result) == [2, 10]
    assert run(store, opener, tmp_path).due == 0


def test_a_run_killed_between_the_call_and_the_record_does_not_write_twice(
    store: Store, opener: ProductOpener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(store)

    def crash(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt  # what a kill leaves: the calls made, nothing recorded

    with monkeypatch.context() as patch:
        patch.setattr(job, "record", crash)
        with pytest.raises(KeyboardInterrupt):
            run(store, opener, tmp_path)
    assert len(opener.writes()) == 2 and all(a is None for a, _, _ in annotations(store).values())
    rerun = run(store, opener, tmp_path)
    assert rerun.sent == 0 and len(opener.writes()) == 2  # the products now hold the values
    assert rerun.statuses == {"error_already_annotated": 3}


def test_written_products_are_refreshed_from_their_current_state(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    """As Robotoff refreshes a product's insights after an annotation: here a packager code the product got on
    Product Opener since the snapshot stops being suggested once its store insight is written."""
    seed(store)
    extra = prediction(
        "packager_code", code=A, value="EMB 11111", automatic_processing=False, source_image=IMAGE
    )
    store.predict(extra)
    store.refresh(product(A), product(B), product(C))
    assert ("EMB 11111", None) in [(i["value"], i["annotation"]) for i in store.insights("packager_code")]
    opener.products[A]["emb_codes_tags"] = ["emb-11111"]  # added on Product Opener after the dump
    report = run(store, opener, tmp_path)
    assert report.refreshed == 3  # the products of the three recorded insights
    assert "EMB 11111" not in [i["value"] for i in store.insights("packager_code")]
    assert insight_values(store, "store") == [(A, 1), (C, 1)]  # the annotated ones stay


def insight_values(store: Store, kind: str) -> list[tuple[str, Any]]:
    return sorted((i["barcode"], i["annotation"]) for i in store.insights(kind))


def test_due_insights_of_types_not_written_back_never_fill_a_run(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)  # in a database shared with Robotoff, its image orientation insights are due first
    store.sql(
        "UPDATE product_insight SET type = 'image_orientation',"
        " process_after = process_after - INTERVAL '1 hour' WHERE barcode = ? AND type = 'store'",
        C,
    )
    first = run(store, opener, tmp_path, limit=1)
    assert (first.due, first.sent, first.unsupported) == (1, 1, 0)
    assert run(store, opener, tmp_path, limit=1).due == 1
    assert run(store, opener, tmp_path, limit=1).due == 0

"""The listener's Prefect dispatch: a batch becomes one flow run of the per-product deployment (idempotent
on the batch's entries), and that flow applies it as the in-process path does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.listener import UnitsNotAppliedError, deployment_dispatcher, idempotency_key, per_product
from pipelines.listener.coalesce import ProductWork, coalesce
from pipelines.listener.events import parse_product_event
from pipelines.listener.failures import OutageError, is_outage
from tests.pipelines.listener.conftest import (  # noqa: F401 (fixtures)
    codes_with_insights,
    extra_env,
    listener_resources,
    query,
    world,
    world_database,
    world_source,
)

pytestmark = pytest.mark.usefixtures("prefect_api")


def _units(codes: list[str]) -> list[ProductWork]:
    base = {"product_type": "food", "user_id": "alice", "comment": ""}
    events = [
        parse_product_event("updates", "1700000000000-0", base | {"code": codes[0], "action": "deleted"}),
        parse_product_event(
            "updates",
            "1700000000001-0",
            base
            | {
                "code": codes[1],
                "action": "updated",
                "diffs": json.dumps({"uploaded_images": {"add": ["9"]}}),
            },
        ),
    ]
    return coalesce(events)


def _flow_run(run_id):
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(run_id)

    return asyncio.run(read())


def _worker_env(monkeypatch: pytest.MonkeyPatch, settings, keywords_dir: Path, taxonomy_dir: Path) -> None:
    """The environment of a worker running the flow against the world's data folder and store."""
    monkeypatch.setenv("OFF_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    monkeypatch.setenv("OFF_GRAMMARS_DIR", str(keywords_dir.parent / "grammars"))
    if settings.store_url:
        monkeypatch.setenv("OFF_STORE_URL", settings.store_url)
    else:
        monkeypatch.delenv("OFF_STORE_URL", raising=False)


def test_a_batch_becomes_one_flow_run_which_applies_it(
    world,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    settings, _, _ = world
    gone, uploaded = codes_with_insights(settings)[:2]
    units = _units([gone, uploaded])
    per_product.to_deployment(name="per-product").apply()
    dispatch = deployment_dispatcher("per_product/per-product")

    first = dispatch(units)
    again = dispatch(list(reversed(units)))  # a listener that crashed before its XACK sends it again
    assert again.id == first.id  # one flow run: the idempotency key is the batch's entries
    assert idempotency_key(units) == idempotency_key(list(reversed(units)))
    stored = _flow_run(first.id)
    assert stored.idempotency_key == idempotency_key(units)
    parameters = stored.parameters
    assert [ProductWork.from_dict(unit) for unit in parameters["units"]] == units  # lossless round trip

    # what a worker would run: the flow, on the stored parameters, against the world's store
    _worker_env(monkeypatch, settings, keywords_dir, taxonomy_dir)
    report = per_product(**parameters)
    assert report["flavors"]["off"]["deleted"] == 1
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone]) == [(0,)]
    assert query(settings, "SELECT image_id FROM image WHERE barcode = ?", [uploaded]) == [("9",)]


def test_flow_parameters_are_checked_like_any_input() -> None:
    unit = _units(["3017620422003", "5449000000996"])[1].to_dict()
    with pytest.raises(ValueError, match="normalized"):
        ProductWork.from_dict(unit | {"code": "00003017620422003"})
    with pytest.raises(ValueError, match="digits"):
        ProductWork.from_dict(unit | {"ocr_images": ["../../etc/passwd"]})
    with pytest.raises(ValueError, match="barcode"):  # the strict check: junk is refused, not reduced
        ProductWork.from_dict(unit | {"raw_code": "5449000000996/../x"})
    with pytest.raises(ValueError, match="stand for"):
        ProductWork.from_dict(unit | {"raw_code": "3017620422003"})


def test_the_flow_commits_what_it_can_and_fails_naming_the_rest(
    world,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    settings, _, _ = world
    gone, kept = codes_with_insights(settings)[:2]
    units = _units([gone, kept])
    absent = ProductWork.from_dict(
        units[1].to_dict() | {"code": "3000000000001", "raw_code": "3000000000001", "image_ops": []}
    )
    _worker_env(monkeypatch, settings, keywords_dir, taxonomy_dir)
    with pytest.raises(UnitsNotAppliedError, match="3000000000001 product_not_found") as raised:
        per_product.with_options(retries=0)(units=[units[0].to_dict(), absent.to_dict()])
    assert [f.code for f in raised.value.failed] == ["3000000000001"]
    # the deletion in the same flow run was committed
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone]) == [(0,)]


def test_a_dispatch_prefect_cannot_take_is_an_outage() -> None:
    dispatch = deployment_dispatcher("per_product/no-such-deployment")
    with pytest.raises(OutageError, match="cannot create a flow run") as raised:
        dispatch(_units(["3017620422003", "5449000000996"]))
    assert is_outage(raised.value)  # the listener leaves the batch pending, never dead-letters it

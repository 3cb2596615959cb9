"""Deployments registered with a real Prefect API: names, flows, schedules and parameters as configured."""

from __future__ import annotations

import asyncio

import pytest

from flows.deployments import apply_deployments, build_deployments, nightly_cron

pytestmark = pytest.mark.usefixtures("prefect_api")


def _read(ids: list) -> list:
    from prefect.client.orchestration import get_client

    async def read() -> list:
        async with get_client() as client:
            return [await client.read_deployment(i) for i in ids]

    return asyncio.run(read())


def test_deploy_registers_a_scheduled_nightly_per_flavor_and_ad_hoc_runs() -> None:
    deployments = build_deployments(["off", "obf"], hour=4, minute=15, timezone="Europe/Paris")
    stored = {d.name: d for d in _read(apply_deployments(deployments))}
    names = {"nightly-off", "refresh-off", "fiber-facets-off", "nightly-obf", "refresh-obf", "per-product"}
    assert set(stored) == names | {"category-model-off", "apply-insights-off", "apply-insights-obf"}
    for flavor in ("off", "obf"):  # every 2 minutes, one run at a time (Robotoff's process_insights)
        write_back = stored[f"apply-insights-{flavor}"]
        [every] = write_back.schedules
        assert every.schedule.interval.total_seconds() == 120 and write_back.parameters == {"flavor": flavor}
        assert write_back.global_concurrency_limit.limit == 1  # type: ignore[union-attr]
        assert write_back.concurrency_options.collision_strategy == "CANCEL_NEW"
    [weekly] = stored["category-model-off"].schedules
    assert (weekly.schedule.cron, weekly.schedule.timezone) == ("0 5 * * 0", "Europe/Paris")
    assert stored["category-model-off"].parameters == {"flavor": "off"}
    for flavor in ("off", "obf"):
        nightly = stored[f"nightly-{flavor}"]
        assert nightly.parameters == {"flavor": flavor}
        [schedule] = nightly.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("15 4 * * *", "Europe/Paris")
        assert schedule.active
        assert stored[f"refresh-{flavor}"].schedules == []
    assert stored["fiber-facets-off"].parameters == {"flavor": "off"}
    # applying again updates in place: same ids
    again = apply_deployments(build_deployments(["off"], hour=5, timezone="UTC"))
    assert set(again) <= {d.id for d in stored.values()}
    [nightly] = [d for d in _read(again) if d.name == "nightly-off"]
    schedule = nightly.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 5 * * *", "UTC")


@pytest.mark.parametrize(("hour", "minute"), [(24, 0), (-1, 0), (3, 60)])
def test_nightly_cron_refuses_impossible_times(hour: int, minute: int) -> None:
    with pytest.raises(ValueError, match="time of day"):
        nightly_cron(hour, minute)


def test_the_off_nightly_can_predict_from_the_images_bucket() -> None:
    deployments = build_deployments(["off", "obf"], nightly_ocr="bucket")
    stored = {d.name: d for d in _read(apply_deployments(deployments))}
    assert stored["nightly-off"].parameters == {"flavor": "off", "ocr": "bucket"}
    assert stored["nightly-obf"].parameters == {"flavor": "obf"}  # the bucket holds OFF's images only

"""The OCR pass as a Prefect flow whose shards run on a Dask cluster (docs/scale-out.md).

``ocr_pass`` syncs the images bucket shard by shard, predicts the pending OCR images shard by shard,
then imports every prediction into the store in one step (``pipelines.predictors.shards``). Each shard
call is a Prefect task — retried alone when it fails, shown in the UI with its own logs — submitted to
the flow's task runner: ``prefect-dask``'s ``DaskTaskRunner`` on the scheduler of ``OFF_DASK_ADDRESS``
(``--dask-address``), or on a ``LocalCluster`` of ``--workers`` processes; without either, one task after
the other in this process. The name predictions stay in the driver (they take seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from pipelines.common.config import Flavor, get_settings

logger = logging.getLogger(__name__)

SHARD_RETRIES = 2  # a shard's transient failure (a worker lost, the bucket down for a while) is redone alone
SHARD_RETRY_DELAY_S = 10


def task_runner(workers: int | None = None, address: str | None = None) -> Any:
    """Where the shards run: the Dask scheduler at ``address``; else a ``LocalCluster`` of ``workers``
    single-threaded processes (the predictors hold the GIL); else this process, one shard at a time."""
    if address or (workers or 0) > 1:
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        cluster = {
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
        return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)
    return ThreadPoolTaskRunner(max_workers=1)


def shard_tasks(
    function: Callable[..., dict[str, Any]], calls: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``pipelines.predictors.shards.Mapper`` on the flow's task runner: one task per call, all
    submitted, then waited for; a call that failed (after its retries) fails the step once every other
    call has ended, so the finished shards' parts are there for the rerun."""
    shard = task(
        function,
        name=function.__name__.replace("_", "-"),
        retries=SHARD_RETRIES,
        retry_delay_seconds=SHARD_RETRY_DELAY_S,
        cache_policy=NO_CACHE,
    )
    futures = [shard.submit(**kwargs) for kwargs in calls]
    wait(futures)
    results, failures = [], []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # the task's own error, after its retries
            failures.append(exc)
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(calls)} shards of {function.__name__} failed; the others are kept for "
            f"the rerun. First failure: {failures[0]}"
        ) from failures[0]
    return results


@flow(name="ocr-pass", flow_run_name="ocr-pass-{flavor}")
def ocr_pass(
    flavor: str = "off",
    sync: bool = True,
    keys: str | None = None,
    prefix: str | None = None,
    fetch_workers: int = 8,
    store: str | None = None,
    shard_keys: int | None = None,
    shard_images: int | None = None,
) -> dict[str, Any]:
    """Sync the images bucket into the OCR dataset (``sync``; ``keys``: a local key list, ``prefix``: only
    those barcodes), then predict the dataset's pending images and import them into the store; the
    reports as JSON-ready values. ``shard_keys`` / ``shard_images``: a shard's size (default
    ``pipelines.predictors.shards.SHARD_KEYS`` / ``SHARD_IMAGES``)."""
    from pipelines.ocr.bucket import dataset_path, key_lines, key_list
    from pipelines.predictors import shards
    from pipelines.predictors.bulk import run_predictions

    settings = get_settings()
    flavor = Flavor(flavor).value
    out: dict[str, Any] = {"flavor": flavor, "seconds": {}}
    started = time.perf_counter()
    if sync:
        listed = Path(keys) if keys else key_list(flavor, settings)
        folder = shards.pass_dir(flavor, settings) / "keys"
        files = shards.split_keys(key_lines(listed), folder, prefix, shard_keys or shards.SHARD_KEYS)
        calls = [
            {"flavor": flavor, "keys_file": str(path), "prefix": prefix, "workers": fetch_workers}
            for path in files
        ]
        synced = shard_tasks(shards.sync_shard, calls)
        out["sync"] = shards.add_sync_reports(synced, flavor) | {
            "workers": sorted({report["worker"] for report in synced})
        }
        out["seconds"]["sync"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    sharded = shards.ShardedOcr(flavor, shard_tasks, settings, shard_images or shards.SHARD_IMAGES)
    report = run_predictions(
        flavor, ocr_table=dataset_path(flavor, settings), store=store, ocr_shards=sharded
    )
    out["predict"] = report.to_dict()
    out["shards"] = {
        "predicted": sum(not result["skipped"] for result in sharded.results),
        "already_done": sum(result["skipped"] for result in sharded.results),
        "workers": sorted({result["worker"] for result in sharded.results}),
    }
    sharded.clear()
    out["seconds"]["predict_and_import"] = round(time.perf_counter() - started, 2)
    return out


def run_ocr_pass(
    *, workers: int | None = None, address: str | None = None, **parameters: Any
) -> dict[str, Any]:
    """``ocr_pass`` on the task runner of ``workers`` / ``address`` (default ``OFF_DASK_ADDRESS``)."""
    address = address or get_settings().dask_address
    return ocr_pass.with_options(task_runner=task_runner(workers, address))(**parameters)

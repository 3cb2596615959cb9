"""Crashes of the write-back run: each due insight is written to Product Opener at most once.

A run makes its calls before it records their outcomes; killed in between, it leaves the insights due, and
the next run finds the values on the products (the "already done" check reads their current state) and
records them without a second call (docs/annotate.md, "The run").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.annotate import job
from pipelines.annotate.job import apply_due_insights
from pipelines.common.config import get_settings
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from tests.pipelines.annotate.conftest import DUE, IMAGE, IMAGES
from tests.pipelines.insights.conftest import DuckStore, prediction, product
from tests.support.product_opener import ProductOpener

OFFPIPE = [sys.executable, "-m", "pipelines.cli"]


def barcode(i: int) -> str:
    body = f"200{i:09d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def seeded(path: Path, template: Path, resources: Resources, count: int) -> list[str]:
    """A store file with ``count`` due automatic store insights, one per product; their barcodes."""
    path.write_bytes(template.read_bytes())
    store = DuckStore(path, resources)
    codes = [barcode(i) for i in range(count)]
    fields = {"value": "Auchan", "value_tag": "auchan", "predictor": "regex", "source_image": IMAGE}
    store.predict(*(prediction("store", code=code, **fields) for code in codes))
    store.refresh(*(product(code) for code in codes))
    store.close()
    return codes


def environment(server: ProductOpener, data: Path, keywords: Path, taxonomies: Path) -> dict[str, str]:
    return {
        "OFF_DATA_DIR": str(data),
        "OFF_WORLD_URL_OFF": server.base,
        "OFF_PRODUCT_SOURCES": "api",
        "OFF_USER": server.user,
        "OFF_PASSWORD": server.password,
        "OFF_APPLY_MODE": "apply",
        "OFF_KEYWORDS_DIR": str(keywords),
        "OFF_TAXONOMY_DIR": str(taxonomies),
    }


def written_codes(server: ProductOpener) -> Counter[str]:
    return Counter(write["code"] for write in server.writes())


def annotated(path: Path) -> list[tuple[Any, ...]]:
    con = open_store(path, read_only=True)
    try:
        return con.execute(
            "SELECT annotation, count(*) FROM product_insight GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("kill_after", [1, 7, 15])
def test_a_sigkill_mid_run_writes_nothing_twice(
    kill_after: int, tmp_path: Path, template_store: Path, resources: Resources, keywords_dir: Path,
    taxonomy_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = tmp_path / "store.duckdb"
    codes = seeded(path, template_store, resources, 20)
    with ProductOpener(products={code: {"images": IMAGES} for code in codes}) as server:
        env = os.environ | environment(server, tmp_path / "data", keywords_dir, taxonomy_dir)
        # 10 calls a second: the kill lands after some calls and before their record (every 2 s)
        args = [*OFFPIPE, "insights", "apply", "--store", str(path), "--rate", "10"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(server.writes()) < kill_after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        sent_before = len(server.writes())
        assert kill_after <= sent_before < len(codes)
        assert annotated(path) == [(None, len(codes))]  # nothing recorded yet
        rerun_env = environment(server, tmp_path / "data", keywords_dir, taxonomy_dir)
        for name in ("OFF_USER", "OFF_PASSWORD"):
            monkeypatch.setenv(name, rerun_env[name])
        options = {"store": path, "settings": get_settings(rerun_env), "rate": 0, "resources": resources}
        rerun = apply_due_insights("off", mode="apply", **options)
        assert rerun.statuses == {
            "error_already_annotated": sent_before, "updated": len(codes) - sent_before
        }  # fmt: skip
        assert written_codes(server) == Counter(codes)  # every product written once
        assert annotated(path) == [(1, len(codes))]


class Crash(BaseException):
    """What a kill leaves behind, raised at a chosen point of a run."""


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    crashes=st.lists(
        st.tuples(st.sampled_from(["send", "record"]), st.integers(min_value=1, max_value=6)), max_size=3
    )
)
def test_any_runs_and_crashes_write_each_insight_at_most_once(
    crashes: list[tuple[str, int]],
    template_store: Path,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs that crash after their n-th call (made) or at their n-th record, then a clean run: every insight
    ends annotated, and every product was written exactly once."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.duckdb"
        codes = seeded(path, template_store, resources, 8)
        with ProductOpener(products={code: {"images": IMAGES} for code in codes}) as server:
            settings_ = get_settings(
                {"OFF_DATA_DIR": str(Path(folder) / "data"), "OFF_WORLD_URL_OFF": server.base,
                 "OFF_PRODUCT_SOURCES": "api"}
            )  # fmt: skip
            monkeypatch.setenv("OFF_USER", server.user)
            monkeypatch.setenv("OFF_PASSWORD", server.password)
            run = {"store": path, "settings": settings_, "rate": 0, "resources": resources, "workers": 1}
            for where, n in crashes:
                with monkeypatch.context() as patch:
                    _crash_at(patch, where, n)
                    with contextlib.suppress(Crash):
                        apply_due_insights("off", mode="apply", now=DUE, **run)
            monkeypatch.setattr(job, "RECORD_EVERY", 3)  # several records in the clean run too
            apply_due_insights("off", mode="apply", now=DUE, **run)
            assert written_codes(server) == Counter(codes)
        assert annotated(path) == [(1, len(codes))]


def _crash_at(patch: pytest.MonkeyPatch, where: str, n: int) -> None:
    patch.setattr(job, "RECORD_EVERY", 2)  # records come often enough to crash at one of them
    if where == "record":
        record, seen = job.record, [0]

        def crashing_record(*args: Any, **kwargs: Any) -> int:
            seen[0] += 1
            if seen[0] == n:
                raise Crash
            return record(*args, **kwargs)

        patch.setattr(job, "record", crashing_record)
        return
    writer_send, sent = job.ProductOpenerWriter.send, [0]

    def crashing_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = writer_send(self, *args, **kwargs)
        sent[0] += 1
        if sent[0] == n:
            raise Crash  # the call was made; the run dies before anything more
        return outcome

    patch.setattr(job.ProductOpenerWriter, "send", crashing_send)

"""The listener's kept store connection: open across batches, handed over to whoever rings the doorbell."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pipelines.store.db import KeptWriter, open_store
from pipelines.store.lock import doorbell_path, doorbell_rung, ring_doorbell
from pipelines.store.predictions import import_predictions
from tests.pipelines.store.conftest import T0, batch, pred, stored
from tests.pipelines.store.test_transactions import _lock_is_free, _wait_for_line, child

_WRITE_ONCE = """
    import sys
    from pipelines.store.schema import predictions_from_rows
    from pipelines.store.db import store_writer
    from pipelines.store.predictions import import_predictions

    print("waiting", flush=True)
    row = {"type": "label", "barcode": "3017620422003", "server_type": "off", "value_tag": "nightly"}
    with store_writer(sys.argv[1], timeout=20, purpose="nightly-test") as con:
        import_predictions(con, predictions_from_rows([row]))
    print("written", flush=True)
"""

_READ_ONCE = """
    import sys
    from pipelines.store.db import open_store

    print("waiting", flush=True)
    con = open_store(sys.argv[1], read_only=True, timeout=20)
    print(con.execute("SELECT count(*) FROM prediction").fetchall()[0][0], flush=True)
    con.close()
"""


def test_sessions_share_one_connection_and_hold_the_lock_between_them(store: Path) -> None:
    writer = KeptWriter(store)
    with writer.session() as con:
        import_predictions(con, batch(pred()), now=T0)
    assert writer.is_open and not _lock_is_free(store)  # held between batches
    with writer.session() as con:
        con.execute("CREATE TEMP TABLE session_state AS SELECT 42 AS kept")
    with writer.session() as con:
        assert con.execute("SELECT kept FROM session_state").fetchall() == [(42,)]
    assert writer.opened == 1
    writer.close()
    assert _lock_is_free(store) and not writer.is_open
    con = open_store(store, read_only=True)
    assert len(stored(con)) == 1
    con.close()


def test_a_failed_job_closes_the_connection_and_the_next_one_starts_fresh(store: Path) -> None:
    writer = KeptWriter(store)
    with pytest.raises(RuntimeError, match="boom"), writer.session() as con:
        con.execute("CREATE TEMP TABLE half_done AS SELECT 1 AS x")
        raise RuntimeError("boom")
    assert not writer.is_open and _lock_is_free(store)
    with writer.session() as con:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half_done'").fetchall()
        assert tables == [(0,)]
    assert writer.opened == 2
    writer.close()


def test_tick_lets_go_after_the_idle_time_only(store: Path) -> None:
    now = [100.0]
    writer = KeptWriter(store, idle_s=5.0, clock=lambda: now[0])
    with writer.session():
        pass
    now[0] += 4.9
    writer.tick()
    assert writer.is_open
    now[0] += 0.2
    writer.tick()
    assert not writer.is_open and _lock_is_free(store)


def test_a_busy_kept_writer_hands_the_store_to_a_waiting_writer(store: Path) -> None:
    """A listener applying batch after batch never idles: the nightly run's writer rings and gets its turn
    at the end of a batch, and the listener does not take the (unfair) file lock back before it."""
    open_store(store).close()
    writer = KeptWriter(store)  # used by the busy thread only: a kept writer belongs to one thread
    stop = threading.Event()
    batches = [0]

    def busy() -> None:
        while not stop.is_set():
            with writer.session() as con:
                con.execute("SELECT count(*) FROM prediction").fetchall()
                time.sleep(0.02)
            batches[0] += 1
        writer.close()

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        with child(_WRITE_ONCE, str(store)) as proc:
            _wait_for_line(proc, "waiting")
            started = time.monotonic()
            _wait_for_line(proc, "written")
            handed_over = time.monotonic() - started
            assert proc.wait(timeout=30) == 0
    finally:
        stop.set()
        thread.join(30)
    assert handed_over < 5, handed_over
    assert writer.opened >= 2 and batches[0] > 0  # it let go, then went on with its batches
    assert not doorbell_rung(store)  # the waiter silenced the bell once served
    con = open_store(store, read_only=True)
    assert [row["value_tag"] for row in stored(con)] == ["nightly"]
    con.close()


def test_a_reader_rings_and_gets_the_file_from_an_idle_kept_writer(store: Path) -> None:
    writer = KeptWriter(store, idle_s=3600)  # only the doorbell can make it let go here
    with writer.session() as con:
        import_predictions(con, batch(pred()), now=T0)
    with child(_READ_ONCE, str(store)) as proc:
        _wait_for_line(proc, "waiting")
        deadline = time.monotonic() + 20
        while writer.is_open and time.monotonic() < deadline:
            writer.tick()  # what the listener's loop does after a turn without a batch
            time.sleep(0.02)
        assert not writer.is_open
        _wait_for_line(proc, "1")
        assert proc.wait(timeout=30) == 0
    assert not doorbell_path(store).exists()


def test_a_stale_doorbell_does_not_stop_the_writer(store: Path) -> None:
    """A waiter that died leaves its bell behind; once older than the freshness window it is ignored."""
    ring_doorbell(store)
    old = time.time() - 10
    os.utime(doorbell_path(store), (old, old))
    writer = KeptWriter(store)
    started = time.monotonic()
    with writer.session():
        pass
    assert time.monotonic() - started < 1.0 and writer.is_open
    writer.tick()
    assert writer.is_open
    writer.close()


def test_a_few_products_session_runs_on_one_thread_and_a_bulk_one_on_all(store: Path) -> None:
    writer = KeptWriter(store)
    with writer.session() as con:
        default = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    with writer.session(server_type="off", barcodes=["3017620422003", "3274080005003"]) as con:
        assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
    with writer.session() as con:  # the same connection: the setting follows the scope
        assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == default
    writer.close()

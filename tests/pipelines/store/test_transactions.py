"""All or nothing, one writer at a time: crashes mid-import, SIGKILL, the writer lock across processes."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from pipelines.store import predictions as predictions_module
from pipelines.store.db import StoreTransactionError, open_store, store_writer, write_transaction
from pipelines.store.lock import StoreLockedError, lock_path, writer_lock
from pipelines.store.predictions import delete_product_predictions, import_predictions
from tests.pipelines.store.conftest import BARCODE, T0, T1, batch, pred, stored


def _lock_is_free(store: Path) -> bool:
    """Try the lock from a fresh descriptor (conflicts even with this process's own holder)."""
    fd = os.open(lock_path(store), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@contextmanager
def child(code: str, *args: str) -> Iterator[subprocess.Popen]:
    """A Python child process running ``code`` (stdout piped, stdin piped); killed on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _wait_for_line(proc: subprocess.Popen, expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == expected, f"child said {line!r}"


def test_error_after_the_delete_step_leaves_the_store_as_before(
    con: duckdb.DuckDBPyConnection, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_predictions(con, batch(pred(value_tag="a"), pred(type="category", value_tag="c")), now=T0)
    before = stored(con, "id", "timestamp")

    def crash(con: duckdb.DuckDBPyConnection, *args: object) -> None:
        # the deletes of step 2 are done (visible inside the transaction), then the process "fails"
        assert con.execute("SELECT count(*) FROM prediction").fetchall() == [(0,)]
        raise RuntimeError("crash between delete and insert")

    monkeypatch.setattr(predictions_module, "_insert_new", crash)
    replacing = batch(pred(value_tag="b", predictor_version="2"), pred(type="category", value_tag="d"))
    with pytest.raises(RuntimeError, match="crash between"):
        import_predictions(con, replacing, now=T1)

    assert stored(con, "id", "timestamp") == before
    assert _lock_is_free(store)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]
    monkeypatch.undo()
    report = import_predictions(con, replacing, now=T1)  # the connection is still usable
    assert (report.deleted_total, report.inserted) == (2, 2)


_IMPORT_THEN_HANG = """
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    from pipelines.store.schema import PREDICTION_SCHEMA
    from pipelines.store import predictions
    from pipelines.store.db import store_writer

    store, marker, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    real = predictions._types_by_product

    def hang_before_commit(con):
        result = real(con)  # steps 1-3 are done, nothing is committed yet
        count = con.execute("SELECT count(*) FROM prediction").fetchall()[0][0]
        marker.write_text(str(count))
        time.sleep(600)
        return result

    predictions._types_by_product = hang_before_commit
    table = pa.table(
        {
            "type": ["label"] * rows,
            "barcode": [f"{i % 20_000:013d}" for i in range(rows)],
            "server_type": ["off"] * rows,
            "value": [None] * rows,
            "value_tag": [f"en:tag-{i // 20_000}" for i in range(rows)],
            "data": [f'{{"i": {i}}}' for i in range(rows)],
            "automatic_processing": [None] * rows,
            "predictor": ["flashtext"] * rows,
            "predictor_version": ["2"] * rows,
            "source_image": ["/1.jpg"] * rows,
            "confidence": [None] * rows,
        },
        schema=PREDICTION_SCHEMA,
    )
    with store_writer(store) as con:
        predictions.import_predictions(con, table)
"""


@pytest.mark.slow
def test_sigkill_during_a_big_import_leaves_the_store_as_before(store: Path, tmp_path: Path) -> None:
    """200k rows: DuckDB writes row groups of a large uncommitted insert to the file early; a kill after
    the delete and the insert, before COMMIT, must still leave exactly the previous content."""
    seed = [pred(barcode=f"{i:013d}", value_tag="en:old", source_image="/1.jpg") for i in range(20_000)]
    with store_writer(store) as con:
        import_predictions(con, batch(*seed), now=T0)
        before = stored(con, "id", "timestamp")
    marker = tmp_path / "inside-transaction"
    with child(_IMPORT_THEN_HANG, str(store), str(marker), "200000") as proc:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the end of its transaction"
        assert marker.read_text() == "200000"  # 20k evicted, 200k inserted, uncommitted
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    assert _lock_is_free(store)  # the kernel released the dead writer's lock
    with store_writer(store, timeout=5) as con:
        assert stored(con, "id", "timestamp") == before
        report = import_predictions(con, batch(pred(barcode="0000000000001", value_tag="en:new")), now=T1)
        assert report.inserted == 1
        assert con.execute("SELECT max(id) FROM prediction").fetchall() == [(20_001,)]


_HOLD_LOCK = """
    import sys
    from pipelines.store.lock import writer_lock

    with writer_lock(sys.argv[1], purpose="nightly-test"):
        print("locked", flush=True)
        sys.stdin.read()
"""


def test_writer_lock_blocks_a_second_writer(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    import_predictions(con, batch(pred()), now=T0)
    before = stored(con, "id", "timestamp")
    with child(_HOLD_LOCK, str(store)) as proc:
        _wait_for_line(proc, "locked")
        started = time.monotonic()
        with pytest.raises(StoreLockedError, match=rf"pid={proc.pid} purpose=nightly-test"):
            import_predictions(con, batch(pred(value_tag="new")), now=T1, lock_timeout=0.5)
        assert time.monotonic() - started >= 0.5
        with pytest.raises(StoreLockedError):
            delete_product_predictions(con, [BARCODE], "off", lock_timeout=0)
        assert stored(con, "id", "timestamp") == before
        assert proc.stdin is not None
        proc.stdin.close()  # the holder finishes
        proc.wait(timeout=30)
    assert import_predictions(con, batch(pred(value_tag="new")), now=T1, lock_timeout=5).inserted == 1


_WRITE_FOR_A_WHILE = """
    import sys, time
    from pipelines.store.schema import predictions_from_rows
    from pipelines.store.db import store_writer
    from pipelines.store.predictions import import_predictions

    row = {"type": "label", "barcode": "3017620422003", "server_type": "off", "value_tag": "child"}
    with store_writer(sys.argv[1], purpose="listener-test") as con:
        import_predictions(con, predictions_from_rows([row]))
        print("locked", flush=True)
        time.sleep(1.0)
"""


def test_second_store_writer_waits_for_the_first(store: Path) -> None:
    open_store(store).close()
    with child(_WRITE_FOR_A_WHILE, str(store)) as proc:
        _wait_for_line(proc, "locked")
        started = time.monotonic()
        with store_writer(store, timeout=30) as con:
            waited = time.monotonic() - started
            assert [row["value_tag"] for row in stored(con)] == ["child"]
        proc.wait(timeout=30)
    assert waited > 0.3


_READ_FOR_A_WHILE = """
    import sys, time
    from pipelines.store.db import open_store

    con = open_store(sys.argv[1], read_only=True)
    print("reading", flush=True)
    time.sleep(1.0)
    con.close()
"""


def test_store_writer_waits_for_a_reader_to_close(store: Path) -> None:
    """DuckDB refuses a read-write open while another process reads; store_writer retries until then."""
    open_store(store).close()
    with child(_READ_FOR_A_WHILE, str(store)) as proc:
        _wait_for_line(proc, "reading")
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(store))
        started = time.monotonic()
        with store_writer(store, timeout=30) as con:
            assert time.monotonic() - started > 0.3
            import_predictions(con, batch(pred()), now=T0)
        proc.wait(timeout=30)


def test_lock_is_reentrant_in_a_thread_and_exclusive_between_threads(store: Path) -> None:
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with writer_lock(store), writer_lock(store):  # nested: no self-deadlock
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    with pytest.raises(StoreLockedError), writer_lock(store, timeout=0.2):
        pass
    assert not _lock_is_free(store)
    release.set()
    with writer_lock(store, timeout=10):
        pass
    thread.join(10)
    assert _lock_is_free(store)


def test_store_functions_run_inside_store_writer(store: Path) -> None:
    with store_writer(store) as con:
        import_predictions(con, batch(pred()), now=T0)
        assert delete_product_predictions(con, [BARCODE], "off") == 1
    assert _lock_is_free(store)


def test_nested_write_transactions_commit_together(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    """Store functions called inside an enclosing write_transaction join it (``docs/reliability.md`` F18: the
    predictions and the OCR ledger entries that vouch for them land together)."""
    with write_transaction(con, purpose="outer"):
        import_predictions(con, batch(pred(value_tag="a")), now=T0)
        import_predictions(con, batch(pred(value_tag="b", barcode="3000000000001")), now=T0)
        assert not _lock_is_free(store)
    assert sorted(r["value_tag"] for r in stored(con)) == ["a", "b"]
    assert _lock_is_free(store)


def test_a_failed_step_dooms_the_enclosing_transaction_even_when_caught(
    con: duckdb.DuckDBPyConnection, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_predictions(con, batch(pred(value_tag="a")), now=T0)
    before = stored(con, "id", "timestamp")

    def crash(*args: object) -> None:
        raise RuntimeError("insert failed")

    with pytest.raises(StoreTransactionError, match="insert failed"), write_transaction(con, purpose="outer"):
        delete_product_predictions(con, [BARCODE], "off")
        monkeypatch.setattr(predictions_module, "_insert_new", crash)
        with pytest.raises(RuntimeError, match="insert failed"):  # caught: the outer must not commit
            import_predictions(con, batch(pred(value_tag="b")), now=T1)
    assert stored(con, "id", "timestamp") == before  # the delete of the same transaction rolled back too
    assert _lock_is_free(store)

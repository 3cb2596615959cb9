"""Failure classification and isolation: outages are told from bad products by the error, and a batch's
poison items are found by halving within a bounded number of attempts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import psycopg
import pytest

from pipelines.listener.failures import OutageError, is_outage, isolate, split_budget
from pipelines.store.lock import StoreLockedError
from tests.pipelines.listener.test_startup import _can_mount


def _attempts(poison: set[int]) -> tuple[list[Sequence[int]], object]:
    calls: list[Sequence[int]] = []

    def attempt(group: Sequence[int]) -> int:
        calls.append(group)
        if poison & set(group):
            raise ValueError(f"poison in {len(group)} items")
        return len(group)

    return calls, attempt


def test_poison_items_are_found_by_halving() -> None:
    items = list(range(2_000))
    calls, attempt = _attempts({3, 1_000, 1_999})
    applied, failed = isolate(items, attempt)
    assert [list(group) for group, _ in failed] == [[3], [1_000], [1_999]]
    assert sum(applied) == 1_997  # every other item applied, once
    assert len(calls) <= split_budget(2_000) < 2 * 2_000 - 1


def test_when_everything_fails_the_attempts_are_bounded_and_nothing_is_lost() -> None:
    items = list(range(2_000))
    calls, attempt = _attempts(set(items))
    applied, failed = isolate(items, attempt)
    assert applied == []
    assert len(calls) <= split_budget(2_000)  # not the 3,999 a full split would take
    assert sorted(item for group, _ in failed for item in group) == items  # each reported failed once


@pytest.mark.parametrize(
    "error",
    [
        OSError(28, "No space left on device"),
        StoreLockedError("held"),
        OutageError("API down"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    ],
    ids=["oserror", "store-locked", "outage-error", "postgres-shutdown", "postgres-connection-lost"],
)
def test_an_outage_is_nobodys_item_and_propagates_at_once(error: Exception) -> None:
    calls: list[Sequence[int]] = []

    def attempt(group: Sequence[int]) -> int:
        calls.append(group)
        raise error

    assert is_outage(error)
    with pytest.raises(type(error)):
        isolate(list(range(10)), attempt)
    assert len(calls) == 1  # not split: the whole batch waits
    assert not is_outage(ValueError("a product's own problem"))
    assert not is_outage(psycopg.errors.UniqueViolation("a statement's own problem"))


def test_a_full_disk_under_duckdb_is_an_outage(tmp_path: Path) -> None:
    """DuckDB reports a full disk at commit as a TransactionException, not an I/O error: it must still be
    classified as an outage (the events wait) rather than as the products' fault (dead-lettered)."""
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = textwrap.dedent(
        """
        import sys
        import duckdb
        from pipelines.listener.failures import is_outage
        con = duckdb.connect(sys.argv[1] + "/store.duckdb")
        con.execute("CREATE TABLE t (x VARCHAR)")
        try:
            for _ in range(1_000):
                con.execute("INSERT INTO t SELECT repeat(md5(random()::VARCHAR), 30) FROM range(20000)")
        except Exception as exc:
            print(type(exc).__name__, is_outage(exc))
        """
    )
    mount = f'mount -t tmpfs -o size=2m tmpfs {disk} && exec "$@"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", mount, "sh", sys.executable, "-c", script, str(disk)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kind, outage = done.stdout.split()
    assert kind in ("TransactionException", "IOException") and outage == "True"

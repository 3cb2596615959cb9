"""The store's single-writer guard: an exclusive ``flock`` on ``<store>.lock``, with a timeout.

Why a lock of our own when DuckDB already locks its file: DuckDB refuses a second read-write process
outright ("Could not set lock on file") instead of waiting, so the Redis listener would fail whenever the
nightly refresh writes. With this lock a writer *waits* (up to a timeout) for the current one to finish, then
opens the store; the design's invariant 8 (one writer at a time, the listener waits and loses nothing).

Properties:

- ``flock`` locks belong to an open file description, so the kernel releases the lock when the holder dies,
  even by SIGKILL: a crashed writer never leaves the store locked;
- re-entrant within a process: a function that takes the lock (``import_predictions``) can run inside a
  caller that already holds it (``store_writer``), and threads of one process take turns;
- the holder writes its pid, purpose and start time into the lock file, so a timeout says who holds it;
- a waiter rings a doorbell (touches ``<store>.lock.wanted`` while it waits), so a holder that keeps the
  store open between short jobs (the listener, :class:`pipelines.store.db.KeptWriter`) knows to let go.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)

# Long enough for the listener to wait out a per-product refresh or a large import step; the nightly run
# passes its own value.
DEFAULT_LOCK_TIMEOUT = 300.0
_MAX_POLL_SECONDS = 0.25
# A doorbell rung longer ago than this is a waiter that gave up or died: waiters ring at every poll.
DOORBELL_FRESH_SECONDS = 1.0


class StoreLockedError(OffpipeError, TimeoutError):
    """Another writer held the store's lock for longer than the timeout."""


@dataclass
class _Holder:
    """This process's state for one lock file: a thread lock, the depth of nesting, the locked descriptor."""

    thread_lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    fd: int | None = None


_holders: dict[Path, _Holder] = {}
_holders_guard = threading.Lock()


def lock_path(store: Path | str) -> Path:
    """The lock file of a store: ``<store>.lock`` in the same folder (absolute, so one file has one key)."""
    return _lock_path(str(store))


@lru_cache(maxsize=64)
def _lock_path(store: str) -> Path:  # resolving costs syscalls, and every store write asks
    path = Path(store).expanduser().resolve()
    return path.with_name(path.name + ".lock")


@contextmanager
def writer_lock(
    store: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "write"
) -> Iterator[None]:
    """Hold the exclusive writer lock of ``store`` for the ``with`` block.

    Waits at most ``timeout`` seconds (0: try once), then raises :class:`StoreLockedError` naming the holder.
    """
    acquire_writer_lock(store, timeout=timeout, purpose=purpose)
    try:
        yield
    finally:
        release_writer_lock(store)


def acquire_writer_lock(
    store: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "write"
) -> None:
    """Take the writer lock (one level deeper when this thread holds it already) until
    :func:`release_writer_lock` in the same thread: for holders whose hold spans several calls."""
    path = lock_path(store)
    holder = _holder(path)
    deadline = time.monotonic() + max(timeout, 0.0)
    if not holder.thread_lock.acquire(blocking=False):
        ring_doorbell(store)  # another thread holds it: maybe a holder that lets go on request
        if not holder.thread_lock.acquire(timeout=max(timeout, 0.0)):
            raise StoreLockedError(
                f"{path}: another thread of this process kept the writer lock for {timeout:g} s"
            )
    try:
        if holder.depth == 0:
            holder.fd = _acquire_file_lock(path, deadline, timeout, purpose)
    except BaseException:
        holder.thread_lock.release()
        raise
    holder.depth += 1


def release_writer_lock(store: Path | str) -> None:
    """Undo one :func:`acquire_writer_lock` of this thread; the last one unlocks the file."""
    holder = _holder(lock_path(store))
    try:
        holder.depth -= 1
        if holder.depth == 0 and holder.fd is not None:
            _release_file_lock(holder.fd)
            holder.fd = None
    finally:
        holder.thread_lock.release()


def doorbell_path(store: Path | str) -> Path:
    """``<store>.lock.wanted``: touched by whoever waits for the writer lock or for the store file."""
    return _bell(lock_path(store))


def ring_doorbell(store: Path | str) -> None:
    """Tell a holder that keeps the store open that someone is waiting for it (best effort)."""
    _ring(_bell(lock_path(store)))


def doorbell_rung(store: Path | str, *, fresh: float = DOORBELL_FRESH_SECONDS) -> bool:
    """Whether someone rang within the last ``fresh`` seconds (a stale bell is a waiter that is gone)."""
    try:
        return time.time() - doorbell_path(store).stat().st_mtime <= fresh
    except FileNotFoundError:
        return False


def answer_doorbell(store: Path | str) -> None:
    """The waiter got what it waited for: silence the bell (other waiters ring again at their next poll)."""
    doorbell_path(store).unlink(missing_ok=True)


def _bell(lock: Path) -> Path:
    return lock.with_name(lock.name + ".wanted")


def _ring(bell: Path) -> None:
    try:
        bell.parent.mkdir(parents=True, exist_ok=True)
        bell.touch()
    except OSError as exc:  # a read-only folder: the holder lets go when idle instead
        logger.debug("cannot ring %s: %s", bell, exc)


def _holder(path: Path) -> _Holder:
    with _holders_guard:
        return _holders.setdefault(path, _Holder())


def _acquire_file_lock(path: Path, deadline: float, timeout: float, purpose: str) -> int:
    """Open (creating) the lock file and ``flock`` it, polling until ``deadline``; return the descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        delay = 0.01
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _ring(_bell(path))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLockedError(
                        f"{path}: the store is being written by {_describe_holder(fd)}; "
                        f"gave up after {timeout:g} s"
                    ) from None
                if not waited:
                    logger.info("waiting for the store writer lock (%s)", _describe_holder(fd))
                    waited = True
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_POLL_SECONDS)
        if waited:
            _bell(path).unlink(missing_ok=True)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} purpose={purpose} since={since}\n".encode(), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _release_file_lock(fd: int) -> None:
    """Clear the holder line, unlock, close (closing alone would unlock; the order keeps the file honest)."""
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _describe_holder(fd: int) -> str:
    """The holder line written by the current holder, for error messages."""
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"

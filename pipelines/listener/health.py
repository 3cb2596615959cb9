"""Startup checks of ``offpipe listen``: what would otherwise fail every batch, found before "listening".

A listener started against an unreachable Redis, or on a data folder it cannot write, used to die with a
long traceback or — worse — announce itself and then fail each batch forever, unnoticed. At startup it now
checks, in this order (docs/listener.md, "Startup checks"):

- the store: the data folder can be created and written (a probe file), and the store opened for writing
  with its schema — a store held by another writer (the nightly run) is not a fault, only a warning;
- Redis: pinged with exponential backoff until a bounded startup timeout (Redis may start after us);
- the product sources: per flavor the listener serves, whether some source can answer (a snapshot exists,
  MongoDB answers a ping; the API is not probed). A flavor without one is a warning — the nightly run creates
  the snapshot, its events are retried meanwhile —, no flavor at all is a fault.

A fault raises :class:`StartupError`, whose message is the one line the command prints before exiting.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from pipelines.common.config import Flavor, Settings
from pipelines.common.errors import OffpipeError
from pipelines.convert.snapshot import products_path
from pipelines.listener.failures import describe
from pipelines.listener.sources import ChainSource, MongoSource, SnapshotSource
from pipelines.store.target import PostgresTarget, store_target

logger = logging.getLogger(__name__)

SERVED_FLAVORS = (Flavor.off, Flavor.obf, Flavor.opff, Flavor.opf)  # product types of the update stream
STORE_LOCK_WAIT_S = 10.0  # at startup, how long to wait for another writer before just warning


class StartupError(OffpipeError, RuntimeError):
    """A problem the listener cannot run with; its message is one line for the operator."""


def check_store(settings: Settings, *, lock_wait_s: float = STORE_LOCK_WAIT_S) -> list[str]:
    """Raise :class:`StartupError` when the data folder or the store cannot be written; the warnings."""
    import duckdb

    from pipelines.store.db import store_writer
    from pipelines.store.lock import StoreLockedError

    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-") as probe:
            probe.write(b"offpipe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise StartupError(f"the data folder {folder} cannot be written: {describe(exc)}") from exc
    target = store_target(settings=settings)
    if isinstance(target, PostgresTarget):
        return _check_postgres(target)
    try:
        with store_writer(settings.store_path, timeout=lock_wait_s, purpose="listener startup check"):
            pass  # opened read-write, schema created
    except StoreLockedError as exc:
        return [f"the store is held by another writer ({exc}): not checked, the batches will wait for it"]
    except (OSError, duckdb.Error) as exc:
        raise StartupError(f"the store {settings.store_path} cannot be written: {describe(exc)}") from exc
    return []


def _check_postgres(target: PostgresTarget) -> list[str]:
    """The PostgreSQL store answers and holds the tables the listener writes (``offpipe store init``); its
    faults end the command like the others' (``cannot listen: …``), not as a bare environment error."""
    from pipelines.store.postgres.connection import StoreConnectionError, connect
    from pipelines.store.postgres.schema import StoreSchemaError, check_schema

    try:
        conn = connect(target)  # one line, the URL masked
        try:
            check_schema(conn)  # names the missing table or column
        finally:
            conn.close()
    except (StoreConnectionError, StoreSchemaError) as exc:
        raise StartupError(str(exc)) from exc
    return []


def redis_address(client: redis.Redis) -> str:
    """Where the client connects, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def wait_for_redis(
    client: redis.Redis,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Ping until Redis answers (backoff 0.25 s doubling to 5 s) or ``timeout_s`` has passed
    (:class:`StartupError`). Redis may be starting with us: waiting a little is right, forever is not."""
    deadline = clock() + timeout_s
    delay = 0.25
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            left = deadline - clock()
            if left <= 0:
                raise StartupError(
                    f"Redis at {redis_address(client)} did not answer within {timeout_s:g} s: {describe(exc)}"
                ) from exc
            logger.debug("Redis at %s not answering (%s): retrying", redis_address(client), describe(exc))
            sleep(min(delay, left))
            delay = min(delay * 2, 5.0)


@dataclass
class _Answers:
    """Whether each source can answer, asked once each."""

    settings: Settings
    mongo: dict[int, str | None] = field(default_factory=dict)  # id(source) → None or why not

    def why_not(self, source: object, flavor: Flavor) -> str | None:
        if isinstance(source, SnapshotSource):
            path = products_path(flavor, self.settings)
            return None if path.is_file() else f"no snapshot at {path}"
        if isinstance(source, MongoSource):
            if id(source) not in self.mongo:
                self.mongo[id(source)] = _mongo_down(source)
            return self.mongo[id(source)]
        return None  # the API: remote and per product, not probed (its failures are outages at run time)


def _mongo_down(source: MongoSource) -> str | None:
    from pymongo.errors import PyMongoError

    try:
        source.client.admin.command("ping")
    except PyMongoError as exc:
        return f"MongoDB does not answer: {describe(exc)}"
    return None


def check_sources(settings: Settings, chain: ChainSource) -> list[str]:
    """Raise :class:`StartupError` when no flavor has a source that can answer; the warnings (one per
    flavor without one: its updates fail ``source_unavailable`` until, say, the nightly run makes its
    snapshot)."""
    answers = _Answers(settings)
    warnings: list[str] = []
    missing: dict[Flavor, list[str]] = {}
    for flavor in SERVED_FLAVORS:
        reasons = [answers.why_not(source, flavor) for source in chain.sources]
        if any(reason is None for reason in reasons):
            continue
        missing[flavor] = [
            f"{source.name}: {reason}" for source, reason in zip(chain.sources, reasons, strict=True)
        ]
        warnings.append(
            f"no product source for {flavor.value} ({'; '.join(missing[flavor])}): its product updates are "
            "retried, then dead-lettered source_unavailable, until one can answer"
        )
    if len(missing) == len(SERVED_FLAVORS):
        others = ", ".join(flavor.value for flavor in SERVED_FLAVORS[1:])
        raise StartupError(
            f"no product source can answer, for any flavor ({'; '.join(missing[SERVED_FLAVORS[0]])}; "
            f"likewise for {others}): run the nightly job first, or configure OFF_PRODUCT_SOURCES"
        )
    return warnings

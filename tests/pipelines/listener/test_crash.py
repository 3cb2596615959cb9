"""The listener killed mid-batch (SIGKILL), a Redis restart, a dropped connection: every event is applied,
none twice in effect — the store ends as a listener that never failed leaves it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipelines.common.config import Settings
from pipelines.listener import stream
from pipelines.listener.consumer import name_key
from pipelines.listener.dispatch import process_units
from pipelines.listener.loop import Listener, LoopOptions, listener_stats
from pipelines.predictors.resources import Resources
from tests.pipelines.insights.test_equivalence import COMPARED
from tests.pipelines.listener.conftest import (
    codes_with_insights,
    duckdb_only,
    fork_world,
    listener_env,
    publish,
    query,
)

INSIGHT_COLUMNS = [c for c in COMPARED if c != "process_after"]  # process_after follows the run's clock
PREDICTION_COLUMNS = "barcode, type, value_tag, value, source_image, predictor, predictor_version, data"
IMAGE_COLUMNS = "barcode, server_type, image_id, source_image, width, height, uploaded_at, deleted"


def _state(settings: Settings) -> dict[str, list[tuple]]:
    """What the events changed, without ids and timestamps of the run (read from the world's store)."""
    insight_columns = ", ".join(f"CAST({c} AS VARCHAR)" for c in INSIGHT_COLUMNS)
    return {
        name: query(settings, f"SELECT {columns} FROM {table} ORDER BY {_all(columns)}", [])
        for name, table, columns in (
            ("insights", "product_insight", insight_columns),
            ("predictions", "prediction", PREDICTION_COLUMNS),
            ("images", "image", IMAGE_COLUMNS),
        )
    }


def _all(columns: str) -> str:
    """``ORDER BY ALL`` in SQL both stores understand: every column by position."""
    return ", ".join(str(i + 1) for i in range(len(columns.split(", "))))


def _events(client: redis.Redis, settings: Settings, codes: list[str]) -> int:
    """A mix of deletions, uploads, image deletions and updates over ``codes``; the number published."""
    count = 0
    for i, code in enumerate(codes):
        if i % 4 == 0:
            publish(client, settings, code=code, action="deleted")
        elif i % 4 == 1:
            publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"add": ["50", "51"]}}))
        elif i % 4 == 2:
            publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"delete": ["1"]}}))
        else:
            publish(client, settings, code=code, diffs=json.dumps({"fields": {"change": ["product_name"]}}))
            publish(client, settings, code=code, user_id="scanbot")
            count += 1
        count += 1
    return count


def _reference(
    request: pytest.FixtureRequest,
    world_settings: Settings,
    resources: Resources,
    client: redis.Redis,
    tmp_path: Path,
) -> tuple[Settings, Listener]:
    """The same events applied by an in-process listener that never fails, on a copy of the data and store,
    through its own consumer group: the state the crashed run must end in."""
    settings = fork_world(
        request,
        world_settings,
        tmp_path / "reference-data",
        OFF_LISTENER_GROUP=world_settings.listener_group + "-reference",
    )
    listener = Listener(
        client=client,
        settings=settings,
        dispatch=lambda units: process_units(units, settings=settings, resources=resources),
        consumer="reference",
        options=LoopOptions(delay_s=0, block_ms=20, low_delay_s=0),
    )
    listener.setup()
    return settings, listener


def _settled(client: redis.Redis, settings: Settings, group: str | None = None) -> bool:
    status = stream.group_status(client, settings.redis_streams[0], group or settings.listener_group)
    return status.pending == 0 and status.lag == 0


def _listen(env: dict[str, str], *args: str) -> subprocess.Popen:
    offpipe = str(Path(sys.executable).parent / "offpipe")
    command = [offpipe, "listen", "--delay", "0", *args]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def _kill_mid_batch_then_restart(
    settings: Settings,
    client: redis.Redis,
    env: dict[str, str],
    codes: list[str],
    first: list[str],
    second: list[str],
) -> int:
    """Publish the events, SIGKILL a listener (``first`` arguments) with a batch in hand, start another
    (``second``) and wait until it has settled every entry; the number of events published."""
    doomed = _listen(env, *first)
    try:
        published = _events(client, settings, codes)
        deadline = time.monotonic() + 60
        while stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending == 0:
            assert doomed.poll() is None, doomed.stderr.read() if doomed.stderr else ""
            assert time.monotonic() < deadline, "the listener never started a batch"
            time.sleep(0.005)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    pending = stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending
    assert pending > 0  # killed with a batch in hand: its entries are not acknowledged

    rescuer = _listen(env, *second)
    try:
        deadline = time.monotonic() + 120  # a hang guard, far beyond the few seconds the work takes
        while not _settled(client, settings):
            assert rescuer.poll() is None, rescuer.stderr.read() if rescuer.stderr else ""
            assert time.monotonic() < deadline, "the new listener did not finish the work"
            time.sleep(0.1)
        rescuer.send_signal(signal.SIGTERM)
        code = rescuer.wait(timeout=30)
        assert code == 0, rescuer.stderr.read()[-2000:] if rescuer.stderr else ""
    finally:
        if rescuer.poll() is None:
            rescuer.kill()
    return published


def _check_against_reference(
    settings: Settings,
    client: redis.Redis,
    codes: list[str],
    reference: tuple[Settings, Listener],
    published: int,
) -> None:
    reference_settings, listener = reference
    while not _settled(client, settings, listener.group):
        listener.turn()
    state = _state(settings)
    assert state == _state(reference_settings)
    assert len(state["images"]) == 2 * len(codes[1::4]) + len(codes[2::4])  # uploads + tombstones, once each
    assert not any(row[0] in set(codes[::4]) for row in state["insights"])  # the deleted products' are gone
    stats = listener_stats(client, settings.listener_group)
    assert stats["processed"] >= published  # at least once: the killed batch's events were redone


def test_sigkill_mid_batch_then_a_new_listener_finishes_the_work(
    world, request: pytest.FixtureRequest, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """The killed listener's name is not used again (another host took over, say): the other consumer
    reclaims its entries once they are idle for the claim idle time."""
    settings, resources, client = world
    codes = codes_with_insights(settings)
    reference = _reference(request, settings, resources, client, tmp_path)
    env = listener_env(settings, keywords_dir, taxonomy_dir)
    first, second = (
        ["--consumer", "doomed", "--claim-idle", "0.5"],
        ["--consumer", "rescuer", "--claim-idle", "0.5"],
    )
    published = _kill_mid_batch_then_restart(settings, client, env, codes, first, second)
    _check_against_reference(settings, client, codes, reference, published)


def test_a_listener_restarted_under_its_name_redoes_its_batch_at_once(
    world, request: pytest.FixtureRequest, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """``docs/reliability.md`` F32. With a claim idle time of an hour, the restarted listener can only have
    finished the work by redoing its own pending entries: before the fix it joined under a new name
    (<host>-<pid>) and the killed one's entries waited for the reclaim — an hour here, 60 s by default."""
    settings, resources, client = world
    codes = codes_with_insights(settings)
    reference = _reference(request, settings, resources, client, tmp_path)
    env = listener_env(settings, keywords_dir, taxonomy_dir)
    hour = ["--claim-idle", "3600"]
    published = _kill_mid_batch_then_restart(settings, client, env, codes, hour, hour)
    consumers = stream.consumers(client, settings.redis_streams[0], settings.listener_group)
    assert [c.name for c in consumers] == [f"{socket.gethostname()}-0"]  # the default name, both times
    _check_against_reference(settings, client, codes, reference, published)


@duckdb_only("about the consumer name's lease in Redis: the store plays no part (three children, ~20 s)")
def test_a_second_listener_under_a_live_name_exits_with_one_line(
    world, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, client = world
    env = listener_env(settings, keywords_dir, taxonomy_dir)
    host = socket.gethostname()
    first = _listen(env)
    try:
        _wait(lambda: client.exists(name_key(settings.listener_group, f"{host}-0")), 60, "no first listener")
        offpipe = str(Path(sys.executable).parent / "offpipe")
        second = subprocess.run([offpipe, "listen"], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "Traceback" not in second.stderr
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("cannot listen: consumer name") and f"in use by pid {first.pid}" in last
        assert "--slot" in last
        third = _listen(env, "--slot", "1")  # another slot of the same host is free
        try:
            _wait(lambda: client.exists(name_key(settings.listener_group, f"{host}-1")), 60, "no slot 1")
        finally:
            third.send_signal(signal.SIGTERM)
            assert third.wait(timeout=30) == 0
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert client.exists(name_key(settings.listener_group, f"{host}-0")) == 0  # given back on a clean exit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a free port, with an append-only file so a restart keeps the streams."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.folder.mkdir()
    server.start()
    yield server
    server.stop()


def _background(listener: Listener) -> threading.Thread:
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    return thread


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_redis_restart_and_a_killed_connection_are_survived(world, private_redis: PrivateRedis) -> None:
    settings, resources, _ = world
    client = redis.Redis(port=private_redis.port, socket_timeout=5)
    observer = redis.Redis(port=private_redis.port)
    codes = codes_with_insights(settings)
    listener = Listener(
        client=client,
        settings=settings,
        dispatch=lambda units: process_units(units, settings=settings, resources=resources),
        consumer="c1",
        options=LoopOptions(delay_s=0, block_ms=50, backoff_max_s=0.5),
    )
    thread = _background(listener)
    try:
        _wait(lambda: observer.exists(settings.redis_streams[0]), 10, "the listener did not create its group")
        publish(observer, settings, code=codes[0], action="deleted")
        _wait(
            lambda: listener_stats(observer, settings.listener_group).get("processed") == 1, 60, "first event"
        )

        private_redis.stop()  # Redis goes away; the listener backs off and retries
        time.sleep(1.0)
        assert thread.is_alive()
        private_redis.start()
        observer = redis.Redis(port=private_redis.port)
        publish(observer, settings, code=codes[1], action="deleted")
        _wait(
            lambda: listener_stats(observer, settings.listener_group).get("processed") == 2,
            60,
            "after restart",
        )

        killed = observer.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1  # the listener's connection, cut
        publish(observer, settings, code=codes[2], action="deleted")
        _wait(
            lambda: listener_stats(observer, settings.listener_group).get("processed") == 3, 60, "after kill"
        )
    finally:
        listener.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert _settled(observer, settings)
    left = query(settings, "SELECT count(*) FROM product_insight WHERE barcode IN (?, ?, ?)", codes[:3])
    assert left == [(0,)]

"""Startup checks of ``offpipe listen`` (``docs/reliability.md`` F37–F39), through the real command in a
subprocess: a problem the listener cannot run with ends it before "listening", with one line on stderr and
exit code 1.

The data folder is made unwritable by putting it under a regular file (``ENOTDIR``): the tests run as root,
for whom permission bits do not forbid writing. Where the test may mount (``unshare -m``, a private mount
namespace that vanishes with the process), a read-only and a full tmpfs are tried too."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.listener import stream
from tests.pipelines.listener.conftest import OFFPIPE, is_postgres, listener_env, postgres_only
from tests.support.postgres import create_database, database_url, drop_database


def _closed_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listen(env: dict[str, str], *args: str, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [*(wrap or []), OFFPIPE, "listen", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unreachable_redis_ends_the_listener_with_one_line(
    world, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, _ = world
    port = _closed_port()
    env = listener_env(settings, keywords_dir, taxonomy_dir, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    done = _listen(env, "--startup-timeout", "1.5")  # retried with backoff for 1.5 s, then given up
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith(f"cannot listen: Redis at 127.0.0.1:{port} did not answer within 1.5 s")
    status = subprocess.run(
        [OFFPIPE, "listen", "--status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 1
    assert _one_line(status.stderr).startswith(f"error: Redis at 127.0.0.1:{port}")


def test_an_unwritable_data_folder_ends_the_listener_before_listening(
    world, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, _ = world
    (tmp_path / "a-file").write_text("not a folder")
    data = tmp_path / "a-file" / "data"
    env = listener_env(settings, keywords_dir, taxonomy_dir, OFF_DATA_DIR=str(data))
    done = _listen(env)
    assert done.returncode == 1
    line = _one_line(done.stderr)  # before "listening …"
    assert line.startswith(f"cannot listen: the data folder {data} cannot be written: NotADirectoryError")


def test_without_any_product_source_the_listener_does_not_start(
    world, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, _ = world
    fresh = tmp_path / "fresh"
    done = _listen(listener_env(settings, keywords_dir, taxonomy_dir, OFF_DATA_DIR=str(fresh)))
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith(
        "cannot listen: no product source can answer, for any flavor (snapshot: no snapshot"
    )
    # the store check came first, and passed: it created the store file, or found PostgreSQL's tables (and
    # left no file behind)
    assert (fresh / "store.duckdb").is_file() != is_postgres(settings)


def test_a_flavor_without_snapshot_is_a_warning_and_the_listener_runs(
    world, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, client = world
    updates = settings.redis_streams[0]
    env = listener_env(settings, keywords_dir, taxonomy_dir)  # the world has an off snapshot only
    listener = subprocess.Popen([OFFPIPE, "listen"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while stream.group_status(client, updates, settings.listener_group).last_delivered_id is None:
            assert listener.poll() is None, "the listener exited"
            assert time.monotonic() < deadline, "the listener did not start"
            time.sleep(0.1)
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(timeout=60) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    stderr = listener.stderr.read() if listener.stderr else ""
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: no product source")]
    assert [warning.split()[5] for warning in warnings] == ["obf", "opff", "opf"]
    assert "listening to" in stderr


def _can_mount(tmp_path: Path) -> bool:
    target = tmp_path / "probe"
    target.mkdir()
    probe = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {target}"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize(
    ("options", "expected"),
    [("ro", "Read-only file system"), ("size=16k", "No space left on device")],
    ids=["read-only", "full"],
)
def test_a_read_only_or_full_data_folder_ends_the_listener_with_one_line(
    world, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path, options: str, expected: str
) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    settings, _, _ = world
    if options.startswith("size") and is_postgres(settings):
        pytest.skip(
            "DuckDB only: a full data folder is found by creating the store file in it; a PostgreSQL store "
            "is elsewhere and the startup probe fits in 16 kB"
        )
    data = tmp_path / "mounted"
    data.mkdir()
    env = listener_env(settings, keywords_dir, taxonomy_dir, OFF_DATA_DIR=str(data))
    wrap = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o {options} tmpfs {data} && exec "$@"', "sh"]
    done = _listen(env, wrap=wrap)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("cannot listen: ") and expected in last
    assert "listening" not in done.stderr


@postgres_only("the PostgreSQL store's own faults: a server that does not answer, a database not initialized")
def test_a_postgres_store_that_cannot_be_used_ends_the_listener_with_one_line(
    world, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    settings, _, _ = world
    port = _closed_port()
    nowhere = f"postgresql://postgres:secret@127.0.0.1:{port}/nowhere"
    done = _listen(listener_env(settings, keywords_dir, taxonomy_dir, OFF_STORE_URL=nowhere))
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith(
        f"cannot listen: cannot connect to the store postgresql://postgres:***@127.0.0.1:{port}"
    )
    assert "secret" not in done.stderr  # the password is never printed
    empty = create_database()  # a database without the store's tables (no `offpipe store init`)
    try:
        done = _listen(listener_env(settings, keywords_dir, taxonomy_dir, OFF_STORE_URL=database_url(empty)))
    finally:
        drop_database(empty)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert line.startswith("cannot listen: ") and "product_insight" in line, line

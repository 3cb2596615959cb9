"""A PostgreSQL store offpipe cannot use ends ``offpipe refresh``, ``offpipe listen`` and ``offpipe store
check`` with one line ``error: …`` and exit code 1, before anything is written: an unreachable server, a
database that does not exist, a password the server refuses, a database without the store's tables, a
Robotoff table whose column type offpipe cannot write (docs/store.md, "Schema")."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pipelines import cli
from pipelines.common.config import get_settings
from pipelines.convert.convert import convert_dump
from pipelines.synth.generator import SynthSpec, generate
from tests.pipelines.listener.conftest import OFFPIPE
from tests.support.postgres import PostgresServer, database_url

PASSWORD = "s3cret-" + secrets.token_hex(4)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
WRITTEN = (
    "SELECT (SELECT count(*) FROM prediction) + (SELECT count(*) FROM product_insight) "
    "+ (SELECT count(*) FROM offpipe.run) + (SELECT count(*) FROM offpipe.listener_log)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    """A database without tables, and a store whose ``product_insight.confidence`` is double precision."""
    server = PostgresServer()
    try:
        bare = server.create(template="template0")
        wrong = server.create()
        with psycopg.connect(wrong, autocommit=True) as conn:
            conn.execute("ALTER TABLE product_insight ALTER COLUMN confidence TYPE double precision")
        yield {"bare": bare, "wrong_type": wrong}
    finally:
        server.drop_all()


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """A private PostgreSQL asking for a password (scram-sha-256), for as long as the module runs: the URL
    of its database ``postgres`` with a wrong password."""
    if os.geteuid() != 0:
        pytest.skip("a private PostgreSQL server needs root (to run initdb as user postgres)")
    if not (PG_BIN / "initdb").is_file() or shutil.which("runuser") is None:
        pytest.skip(f"no {PG_BIN / 'initdb'} (or runuser) to start a private PostgreSQL server")
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="offpipe-pg-password-"))
    data, pwfile, port = base / "data", base / "pwfile", _free_port()
    pwfile.write_text(PASSWORD + "\n")
    shutil.chown(base, "postgres")
    shutil.chown(pwfile, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    try:
        initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}"]
        subprocess.run([*as_postgres, *initdb, "--auth=scram-sha-256"], check=True, capture_output=True)
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*ctl, "-o", options, "-l", str(base / "log"), "-w", "start"], check=True, capture_output=True
        )
        print(f"private PostgreSQL server up in {time.perf_counter() - started:.1f} s")
        yield f"postgresql://postgres:wrong-{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def data_env(
    tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path
) -> dict[str, str]:
    """The environment of a flavor off with a 30-product snapshot (what ``offpipe refresh`` reads)."""
    base = tmp_path_factory.mktemp("bad-input")
    env = {
        "OFF_DATA_DIR": str(base / "data"),
        "OFF_TAXONOMY_DIR": str(taxonomy_dir),
        "OFF_KEYWORDS_DIR": str(keywords_dir),
        "OFF_GRAMMARS_DIR": str(keywords_dir.parent / "grammars"),
    }
    dump = base / "dump.jsonl.gz"
    generate(SynthSpec(products=30, seed=5, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", settings=get_settings(env), min_rows=0)
    return env


def _bad_urls(databases: dict[str, str], password_url: str | None) -> dict[str, tuple[str, str]]:
    """Name → (store URL, what its error line says)."""
    port = _free_port()
    missing = database_url(f"offpipe_test_missing_{secrets.token_hex(4)}")
    urls = {
        "no server": (
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres",
            f"cannot connect to the store postgresql://postgres:***@127.0.0.1:{port}/postgres",
        ),
        "no database": (missing, "does not exist"),
        "no tables": (
            databases["bare"],
            "the database has no table product_insight (never initialized for offpipe): run `offpipe store",
        ),
        "wrong column type": (
            databases["wrong_type"],
            "product_insight.confidence is double precision, offpipe needs real (Robotoff 1.85.10)",
        ),
    }
    if password_url is not None:
        urls["refused password"] = (password_url, 'password authentication failed for user "postgres"')
    return urls


def _written(url: str) -> int | None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(WRITTEN).fetchone()[0]  # type: ignore[index]
    except psycopg.Error:
        return None  # no server, no database, no tables: nothing could be written


def _assert_one_error_line(output: str, message: str, prefix: str = "error: ") -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix) and message in lines[0], repr(output)
    assert PASSWORD not in output


@pytest.mark.parametrize("case", ["no server", "no database", "no tables", "wrong column type"])
def test_refresh_check_and_listen_refuse_a_store_they_cannot_use(
    case: str, databases: dict[str, str], data_env: dict[str, str]
) -> None:
    url, message = _bad_urls(databases, None)[case]
    _refused_everywhere(url, message, data_env)


def test_a_refused_password_is_one_line_without_the_password(
    password_server: str, databases: dict[str, str], data_env: dict[str, str]
) -> None:
    url, message = _bad_urls(databases, password_server)["refused password"]
    _refused_everywhere(url, message, data_env)


def _refused_everywhere(url: str, message: str, data_env: dict[str, str]) -> None:
    before = _written(url)
    env = data_env | {"OFF_STORE_URL": url}
    runner = CliRunner()
    for args in (["store", "check"], ["refresh"]):
        done = runner.invoke(cli.app, args, env=env)
        assert (done.exit_code, done.stdout) == (1, ""), (args, done.output)
        _assert_one_error_line(done.stderr, message)
    listen = _listen(env)
    assert listen.returncode == 1, listen.stderr
    _assert_one_error_line(listen.stderr, message, prefix="cannot listen: ")  # as every startup fault
    assert _written(url) == before


def _listen(env: dict[str, str]) -> Any:
    """``offpipe listen`` with ``env`` (its streams never created: it must stop at its startup checks)."""
    streams = {
        "OFF_REDIS_STREAMS": f"offpipe-test-{secrets.token_hex(6)}:updates",
        "OFF_LISTENER_DELAY_S": "0",
    }
    return subprocess.run(
        [OFFPIPE, "listen", "--startup-timeout", "5"],
        env=os.environ | env | streams,
        capture_output=True,
        text=True,
        timeout=120,
    )

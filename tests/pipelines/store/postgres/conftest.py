"""Fixtures of the PostgreSQL store tests: fresh databases on the test server, dropped afterwards.

- ``pg_database`` (per module): an empty database's URL, for tests that can share one;
- ``pg_url`` (per test): an empty database's URL (no tables: ``offpipe store init`` not run);
- ``pg_store_url`` (per test): a database as ``offpipe store init`` leaves a fresh one, copied from a
  template initialized once per session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import (
    create_database,
    database_url,
    drop_database,
    drop_store_template,
    store_template,
)


@pytest.fixture(scope="session")
def _pg_store_template() -> Iterator[str]:
    try:
        yield store_template()
    finally:
        drop_store_template()


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    name = create_database()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = create_database()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def pg_store_url(_pg_store_template: str) -> Iterator[str]:
    name = create_database(template=_pg_store_template)
    try:
        yield database_url(name)
    finally:
        drop_database(name)

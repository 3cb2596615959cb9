"""A real Prefect API for flow tests: one temporary server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipelines.annotate.conftest import (  # noqa: F401  (fixtures of the write-back flow test)
    duckdb_store,
    opener,
    resources,
    template_store,
)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

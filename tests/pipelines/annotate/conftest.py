"""Write-back fixtures: the insight tests' stores (a DuckDB file and a PostgreSQL database, each test on both)
and a Product Opener stand-in that both reads products (the API source) and takes the writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.pipelines.insights.conftest import (  # noqa: F401  (fixtures, registered by import)
    NOW,
    Store,
    duckdb_store,
    empty_postgres_store,
    pg_store,
    postgres_store_url,
    prediction,
    product,
    resources,
    store,
    template_store,
)
from tests.support.product_opener import ProductOpener

IMAGE = "/301/762/042/2003/1.jpg"
A, B, C = "3017620422003", "5449000000996", "7622210449283"
DUE = NOW + dt.timedelta(minutes=11)  # the refresh sets process_after = NOW + 10 min
# the uploaded images of the snapshot's products (tests.pipelines.insights.conftest.product), as Product
# Opener's API gives them: an insight whose image the product no longer has is deleted by a refresh
IMAGES = {str(i): {"imgid": str(i), "sizes": {"full": {"w": 1000, "h": 2000}}} for i in (1, 2)}


@pytest.fixture
def opener(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProductOpener]:
    products = {
        A: {"stores_tags": ["carrefour"], "images": IMAGES},
        B: {"emb_codes": "FR 12.345.678 CE", "images": IMAGES},
        C: {"stores_tags": ["auchan"], "images": IMAGES},  # already has the store its insight suggests
    }
    with ProductOpener(products=products) as server:
        monkeypatch.setenv("OFF_USER", server.user)
        monkeypatch.setenv("OFF_PASSWORD", server.password)
        yield server


def seed(target: Store) -> None:
    """Three automatic insights (two stores, one packager code) and one that is not automatic."""
    target.predict(
        *(
            prediction(
                "store", code=code, value="Auchan", value_tag="auchan", predictor="regex", source_image=IMAGE
            )
            for code in (A, C)
        ),
        prediction("packager_code", code=B, value="EMB 29181", automatic_processing=True, source_image=IMAGE),
        prediction(
            "packager_code", code=C, value="EMB 56789", automatic_processing=False, source_image=IMAGE
        ),
    )
    target.refresh(product(A), product(B), product(C))

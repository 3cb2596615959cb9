"""The write to Product Opener, against a stand-in on 127.0.0.1 (tests/support/product_opener.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.annotate.base import Insight, Write
from pipelines.annotate.config import Credentials
from pipelines.annotate.errors import CredentialsMissingError
from pipelines.annotate.registry import decide
from pipelines.annotate.results import AnnotationStatus, Outcome
from pipelines.annotate.writer import ProductOpenerWriter, comment
from pipelines.barcodes import InvalidBarcodeError
from pipelines.common.config import Settings
from pipelines.common.http import USER_AGENT
from tests.support.product_opener import ProductOpener

CODE = "3017620422003"
INSIGHT_ID = "5d2c1f0e-7a55-4c43-8f0a-61a3d6c9e2b4"


@pytest.fixture
def opener() -> Iterator[ProductOpener]:
    with ProductOpener(products={CODE: {"labels_tags": ["en:vegan"], "emb_codes": "EMB 72180"}}) as server:
        yield server


def writer_for(
    server: ProductOpener, *, password: str | None = None, timeout_s: int = 15
) -> ProductOpenerWriter:
    settings = Settings.from_env({"OFF_WORLD_URL_OFF": server.base})
    credentials = Credentials(server.user, server.password if password is None else password)
    return ProductOpenerWriter(settings, "off", credentials, timeout_s=timeout_s)


def label(tag: str = "en:organic", code: str = CODE) -> Insight:
    return Insight(id=INSIGHT_ID, barcode=code, type="label", value_tag=tag)


def apply(
    server: ProductOpener, insight: Insight, *, password: str | None = None, timeout_s: int = 15
) -> Outcome:
    decided = decide(insight, server.products.get(insight.barcode))
    assert isinstance(decided, Write)
    return writer_for(server, password=password, timeout_s=timeout_s).send(insight, decided, automatic=True)


def test_a_label_is_added_with_robotoffs_form_fields(opener: ProductOpener) -> None:
    outcome = apply(opener, label())
    assert outcome.status is AnnotationStatus.updated and not outcome.transient
    assert opener.products[CODE]["labels_tags"] == ["en:vegan", "en:organic"]
    (request,) = opener.requests
    assert request["path"] == "/cgi/product_jqm2.pl"
    assert request["headers"]["User-Agent"] == USER_AGENT
    assert request["form"] == {
        "code": CODE,
        "add_labels": "en:organic",
        "comment": f"[offpipe] Adding label tag 'en:organic', ID: {INSIGHT_ID} (automated edit)",
        "user_id": "offpipe-bot",
        "password": "s3cret",
    }


def test_packager_codes_are_sent_as_the_whole_list(opener: ProductOpener) -> None:
    insight = Insight(id=INSIGHT_ID, barcode=CODE, type="packager_code", value="FR 40.261.001 CE")
    apply(opener, insight)
    assert opener.products[CODE]["emb_codes"] == "EMB 72180,FR 40.261.001 CE"
    # the next decision, on the product's new state, sends nothing
    assert decide(insight, opener.products[CODE]).status is AnnotationStatus.error_already_annotated  # type: ignore[union-attr]


def test_an_operators_edit_is_not_marked_automated() -> None:
    assert comment("Adding brand 'Ferrero'", INSIGHT_ID, automatic=False) == (
        f"[offpipe] Adding brand 'Ferrero', ID: {INSIGHT_ID}"
    )


@pytest.mark.parametrize(
    ("failure", "transient", "detail"),
    [
        ("status_500", True, "HTTP 500"),
        ("drop", True, "unreachable"),
        ("slow", True, "unreachable"),  # a read timeout
        ("status_4xx", False, "HTTP 403"),
        ("not_saved", False, "did not save the fields: 'no code or invalid code'"),
    ],
)
def test_failures_say_whether_a_later_run_can_help(
    opener: ProductOpener, failure: str, transient: bool, detail: str
) -> None:
    setattr(opener.fail, failure, 1)
    opener.fail.slow_s = 2.0
    outcome = apply(opener, label(), timeout_s=1)
    assert outcome.status is AnnotationStatus.error_failed_update
    assert outcome.transient is transient
    assert detail in outcome.detail
    assert not outcome.recorded  # left for a later run (or the operator)
    assert opener.products[CODE]["labels_tags"] == ["en:vegan"]


def test_a_refused_password_is_a_failure_not_a_save(opener: ProductOpener) -> None:
    outcome = apply(opener, label(), password="wrong")
    assert outcome.status is AnnotationStatus.error_failed_update
    assert "authentication failed" in outcome.detail
    assert "wrong" not in outcome.detail


def test_a_bad_barcode_never_reaches_a_request(opener: ProductOpener) -> None:
    writer = writer_for(opener)
    write = Write("/cgi/product_jqm2.pl", {"add_labels": "en:organic"}, "Adding label tag 'en:organic'")
    with pytest.raises(InvalidBarcodeError):
        writer.send(label(code="3017620422003&add_brands=x"), write, automatic=True)
    assert opener.requests == []


def test_credentials_come_from_the_environment_and_stay_masked() -> None:
    credentials = Credentials.from_env({"OFF_USER": "offpipe-bot", "OFF_PASSWORD": "s3cret"})
    assert "s3cret" not in repr(credentials) and "s3cret" not in str(credentials)
    with pytest.raises(CredentialsMissingError, match="OFF_USER and OFF_PASSWORD"):
        Credentials.from_env({"OFF_USER": "offpipe-bot"})


@pytest.mark.parametrize(
    ("kind", "value", "value_tag", "field", "after"),
    [
        ("label", None, "en:organic", "labels_tags", ["en:vegan", "en:organic"]),
        ("category", None, "en:biscuits", "categories_tags", ["en:biscuits"]),
        ("store", "Carrefour", "carrefour", "stores_tags", ["carrefour"]),
        ("brand", "Ferrero", "ferrero", "brands", "Ferrero"),
        ("product_weight", "400 g", None, "quantity", "400 g"),
        ("expiration_date", "12/2027", None, "expiration_date", "12/2027"),
        ("packager_code", "FR 40.261.001 CE", None, "emb_codes", "EMB 72180,FR 40.261.001 CE"),
    ],
)
def test_each_type_is_written_then_found_done(
    opener: ProductOpener, kind: str, value: str | None, value_tag: str | None, field: str, after: object
) -> None:
    """Per type: the call changes the product on Product Opener, the next decision on its new state sends
    nothing (brand excepted, as in Robotoff), and a failed call leaves the product as it was."""
    insight = Insight(id=INSIGHT_ID, barcode=CODE, type=kind, value=value, value_tag=value_tag)
    before = dict(opener.products[CODE])
    opener.fail.status_500 = 1
    assert apply(opener, insight).transient and opener.products[CODE] == before
    assert apply(opener, insight).status is AnnotationStatus.updated
    assert opener.products[CODE][field] == after
    again = decide(insight, opener.products[CODE])
    if kind == "brand":
        assert isinstance(again, Write)
    else:
        assert again.status is AnnotationStatus.error_already_annotated  # type: ignore[union-attr]

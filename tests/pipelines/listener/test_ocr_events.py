"""OCR-ready events through the listener, against a real HTTP server standing in for the image server:
the OCR JSON is fetched and predicted from, and only an image whose text mentions the Nutri-Score is
downloaded and shown to the detector (a tiny ONNX model with a YOLO detector's signature)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines import barcodes
from pipelines.common.config import Flavor
from pipelines.listener.apply import with_known_images
from pipelines.listener.dispatch import process_units
from pipelines.predictors.rules.nutriscore import NutriscoreDetector
from pipelines.store import images
from pipelines.synth.ocr import OcrImage, build_response
from tests.pipelines.listener.conftest import codes_with_insights, make_listener, publish, query, writer
from tests.support.http_server import DumpServer, ServedFile
from tests.support.onnx_models import solid_image, yolo_nutriscore_model


@pytest.fixture(scope="module")
def image_server() -> Iterator[DumpServer]:
    with DumpServer() as served:
        yield served


@pytest.fixture
def extra_env(image_server: DumpServer, tmp_path: Path) -> dict[str, str]:
    model = yolo_nutriscore_model(tmp_path / "models" / "nutriscore.onnx")
    return {"OFF_IMAGES_URL_OFF": image_server.base, "OFF_NUTRISCORE_MODEL": str(model)}


def _serve(server: DumpServer, code: str, image_id: str, text: list[str], image: bytes | None) -> None:
    payload = build_response(OcrImage(image_id, 600, 800, "fr", blocks=[text]))
    base = "/images/products" + barcodes.image_path(code, image_id).removesuffix(".jpg")
    server.files[base + ".json"] = ServedFile(orjson.dumps(payload))
    if image is not None:
        server.files[base + ".jpg"] = ServedFile(image)


def _labels(settings, code: str, image_id: str) -> list[tuple]:
    sql = """SELECT value_tag, predictor, predictor_version, automatic_processing, confidence
             FROM prediction WHERE barcode = ? AND type = 'label' AND source_image = ? ORDER BY value_tag"""
    rows = query(settings, sql, [code, barcodes.image_path(code, image_id)])
    return [(*row[:4], None if row[4] is None else round(row[4], 3)) for row in rows]


def test_ocr_ready_predicts_and_runs_the_detector_only_on_nutriscore_images(
    world, image_server: DumpServer
) -> None:
    settings, resources, client = world
    marked, plain = codes_with_insights(settings)[:2]
    _serve(image_server, marked, "21", ["Valeurs nutritionnelles", "NUTRI-SCORE"], solid_image((255, 0, 0)))
    _serve(image_server, plain, "22", ["Ingrédients : farine de blé, sucre"], solid_image((255, 0, 0)))
    detector = NutriscoreDetector(settings.nutriscore_model, version=settings.nutriscore_model_version)
    listener = make_listener(
        settings,
        resources,
        client,
        dispatch=lambda units: process_units(
            units, settings=settings, resources=resources, detector=detector
        ),
    )
    listener.setup()
    seen = len(image_server.requests)  # the server is the module's: this test's requests come after
    for code, image in ((marked, "21"), (plain, "22")):
        publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"add": [image]}}))
        client.xadd(settings.ocr_stream, {"code": code, "image_id": image, "product_type": "food"})
    assert sum(listener.turn() for _ in range(4)) == 4

    assert _labels(settings, marked, "21") == [
        ("en:nutriscore", "regex", "1", None, None),  # the OCR mention (Robotoff's trigger) …
        ("en:nutriscore-grade-a", "nutriscore", "yolo-nutriscore-1.0", False, 1.0),  # … and the detector
    ]
    assert _labels(settings, plain, "22") == []
    requested = [r["path"] for r in image_server.requests[seen:]]
    assert requested.count("/images/products" + barcodes.image_path(marked, "21")) == 1
    assert "/images/products" + barcodes.image_path(plain, "22") not in requested  # no mention, no download
    ledger = query(settings, "SELECT barcode FROM ocr_image ORDER BY 1", [])
    assert ledger == sorted([(marked,), (plain,)])
    insights = query(
        settings,
        "SELECT value_tag FROM product_insight WHERE barcode = ? AND type = 'label' AND source_image = ?",
        [marked, barcodes.image_path(marked, "21")],
    )
    assert ("en:nutriscore-grade-a",) in insights


def test_an_image_the_server_does_not_have_skips_the_detector_not_the_batch(
    world, image_server: DumpServer
) -> None:
    settings, resources, client = world
    code = codes_with_insights(settings)[2]
    _serve(image_server, code, "23", ["NUTRI-SCORE"], image=None)  # OCR JSON served, image missing
    detector = NutriscoreDetector(settings.nutriscore_model)
    reports = []

    def dispatch(units):
        reports.append(process_units(units, settings=settings, resources=resources, detector=detector))

    listener = make_listener(settings, resources, client, dispatch=dispatch)
    listener.setup()
    client.xadd(settings.ocr_stream, {"code": code, "image_id": "23", "product_type": "food"})
    assert sum(listener.turn() for _ in range(3)) == 1
    assert reports[0].flavors["off"]["nutriscore_images"] == 1
    assert reports[0].flavors["off"]["nutriscore_failed"] == 1
    assert [row[0] for row in _labels(settings, code, "23")] == ["en:nutriscore"]


def test_the_overlay_adds_known_uploads_and_removes_deleted_images(world) -> None:
    settings, _, _ = world
    rows = pq.read_table(settings.parquet_dir("off") / "products.parquet")
    row = next(r for r in rows.to_pylist() if any(i["key"] == "1" for i in r["images"] or []))
    code = row["normalized_code"]
    one = rows.filter(pc.equal(rows.column("normalized_code"), code))
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with writer(settings, [code]) as con:
        images.record_uploads(con, "off", [(code, "30", at)], now=at)
        images.mark_deleted(con, "off", [(code, "1")], now=at)
        ocr = pa.table({"barcode": [code, code], "image_id": ["31", "1"]})
        overlaid = with_known_images(con, Flavor.off, one, ocr)
    assert overlaid.schema == one.schema and overlaid.num_rows == 1
    keys = [i["key"] for i in overlaid.column("images")[0].as_py()]
    before = [i["key"] for i in row["images"]]
    assert keys == [k for k in before if k != "1"] + ["30", "31"]  # deleted out, known uploads in
    new = next(i for i in overlaid.column("images")[0].as_py() if i["key"] == "30")
    assert new["uploaded_t"] == int(at.timestamp())
    assert overlaid.drop_columns(["images"]).equals(one.drop_columns(["images"]))


def test_the_overlay_runs_whenever_the_image_table_knows_one_of_the_products(world) -> None:
    """The overlay is skipped only when it could change nothing: a deletion alone (no upload, no OCR event)
    recorded for one product of the batch is enough to run it, and a product the table does not know is
    returned as it was."""
    settings, _, _ = world
    rows = pq.read_table(settings.parquet_dir("off") / "products.parquet")
    with_one = [
        r["normalized_code"] for r in rows.to_pylist() if any(i["key"] == "1" for i in r["images"] or [])
    ]
    known, unknown = with_one[-1], with_one[-2]
    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    with writer(settings, [known, unknown]) as con:
        images.mark_deleted(con, "off", [(known, "1")], now=at)
        alone = rows.filter(pc.equal(rows.column("normalized_code"), unknown))
        assert with_known_images(con, Flavor.off, alone, None).equals(alone)  # nothing known: as it was
        both = rows.filter(pc.is_in(rows.column("normalized_code"), pa.array([known, unknown])))
        overlaid = with_known_images(con, Flavor.off, both, None)
    codes, lists = overlaid.column("normalized_code").to_pylist(), overlaid.column("images").to_pylist()
    by_code = dict(zip(codes, lists, strict=True))
    assert "1" not in [i["key"] for i in by_code[known]]  # the deletion applied: the overlay ran
    assert by_code[unknown] == alone.column("images")[0].as_py()


def test_an_images_predictions_and_its_ledger_entry_commit_together(
    world, image_server: DumpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docs/reliability.md`` F18, on the per-product path: a crash after the ledger statement leaves neither
    the image's predictions nor its ledger entry (never predictions the nightly run would redo, nor a ledger
    entry without predictions); the redelivered event then stores both."""
    from pipelines.listener.coalesce import coalesce
    from pipelines.listener.events import parse_ocr_event
    from pipelines.predictors import ocr_ledger

    settings, resources, _ = world
    code = codes_with_insights(settings)[0]
    _serve(image_server, code, "23", ["Poids net : 750 g", "NUTRI-SCORE"], None)
    fields = {"code": code, "image_id": "23", "product_type": "food"}
    units = coalesce([parse_ocr_event(settings.ocr_stream, "1-0", fields)])
    source = barcodes.image_path(code, "23")
    image_rows = "SELECT count(*) FROM prediction WHERE source_image = ?"
    real = ocr_ledger.record_images

    def crash_after_recording(*args, **kwargs) -> int:
        real(*args, **kwargs)
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(ocr_ledger, "record_images", crash_after_recording)
    with suppress(RuntimeError):  # raised, or reported as the unit's failure
        process_units(units, settings=settings, resources=resources)
    assert query(settings, image_rows, [source]) == [(0,)]
    assert query(settings, "SELECT count(*) FROM ocr_image", []) == [(0,)]
    monkeypatch.setattr(ocr_ledger, "record_images", real)
    process_units(units, settings=settings, resources=resources)
    assert query(settings, image_rows, [source])[0][0] >= 2  # the weight and the Nutri-Score mention
    assert query(settings, "SELECT barcode, source_image FROM ocr_image", []) == [(code, source)]

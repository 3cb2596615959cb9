"""Per-image path: one OCR JSON fetched from a real local HTTP server → the same row as the archive path."""

from __future__ import annotations

import gzip
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import orjson
import pytest

from pipelines import barcodes
from pipelines.common.config import Settings
from pipelines.common.http import FetchError, FetchNotFoundError
from pipelines.ocr.fetch import fetch_ocr_table
from pipelines.ocr.rows import NOT_JSON, OCR_ERROR, OcrRecordError, ocr_table_from_json
from tests.pipelines.ocr.conftest import RealOcr, SynthOcr
from tests.support.http_server import DumpServer, ServedFile


class OcrServer(DumpServer):
    """The download tests' server, plus ``Content-Encoding: gzip`` on chosen paths (bodies stored gzipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.gzip_encoded: set[str] = set()

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict,
        length: int | None = None,
    ) -> None:
        if request.path in self.gzip_encoded and status == 200:
            headers = {**headers, "Content-Encoding": "gzip"}
        super()._reply(request, status, body, headers, length)


@pytest.fixture
def server() -> OcrServer:
    with OcrServer() as served:
        yield served


def _settings(tmp_path: Path, base: str) -> Settings:
    return Settings.from_env({"OFF_DATA_DIR": str(tmp_path), "OFF_IMAGES_URL_OFF": base})


def _path(barcode: str, image_id: str | int) -> str:
    return "/images/products" + barcodes.ocr_path(barcode, image_id)


def test_fetch_gives_the_archive_row(tmp_path: Path, server: OcrServer, real_ocr: list[RealOcr]) -> None:
    settings = _settings(tmp_path, server.base)
    for real in real_ocr:
        server.files[_path(real.barcode, real.image_id)] = ServedFile(orjson.dumps(real.payload))
    for real in real_ocr:
        table = fetch_ocr_table(real.barcode, real.image_id, "off", settings=settings)
        url = server.url(_path(real.barcode, real.image_id))
        expected = ocr_table_from_json(real.payload, barcode=real.barcode, image_id=real.image_id, source=url)
        assert table.num_rows == 1
        assert table.equals(expected), real.name
        assert table.column("ocr_source")[0].as_py() == url
    assert [r["path"] for r in server.requests] == [_path(r.barcode, r.image_id) for r in real_ocr]


def test_barcode_is_normalized_before_it_reaches_the_url(
    tmp_path: Path, server: OcrServer, synth_ocr: SynthOcr
) -> None:
    payload = orjson.loads(synth_ocr.lines()[0])["content"]
    server.files["/images/products/000/001/234/5678/3.json"] = ServedFile(orjson.dumps(payload))
    table = fetch_ocr_table("0012345678", "3", settings=_settings(tmp_path, server.base))
    row = table.to_pylist()[0]
    assert (row["barcode"], row["image_id"], row["source_image"]) == (
        "12345678",
        "3",
        "/000/001/234/5678/3.jpg",
    )


@pytest.mark.parametrize("encoding", ["content-encoding", "gzip-file"])
def test_gzipped_bodies(tmp_path: Path, server: OcrServer, real_ocr: list[RealOcr], encoding: str) -> None:
    real = real_ocr[0]
    path = _path(real.barcode, real.image_id)
    server.files[path] = ServedFile(gzip.compress(orjson.dumps(real.payload)))
    if encoding == "content-encoding":
        server.gzip_encoded.add(path)
    table = fetch_ocr_table(real.barcode, real.image_id, settings=_settings(tmp_path, server.base))
    url = server.url(path)
    assert table.equals(
        ocr_table_from_json(real.payload, barcode=real.barcode, image_id=real.image_id, source=url)
    )


def test_404_is_a_clear_not_found(tmp_path: Path, server: OcrServer) -> None:
    with pytest.raises(FetchNotFoundError, match="404") as caught:
        fetch_ocr_table("3038350013804", 11, settings=_settings(tmp_path, server.base), backoff_s=0)
    assert caught.value.status == 404
    assert caught.value.url.endswith("/images/products/303/835/001/3804/11.json")
    assert len(server.requests) == 1  # a 404 is final: no retry


def test_persistent_5xx_fails_after_the_retries(tmp_path: Path, server: OcrServer) -> None:
    server.behaviour.status_override = 503
    with pytest.raises(FetchError, match="HTTP 503") as caught:
        fetch_ocr_table(
            "3038350013804", 11, settings=_settings(tmp_path, server.base), attempts=3, backoff_s=0
        )
    assert caught.value.status == 503
    assert not isinstance(caught.value, FetchNotFoundError)
    assert len(server.requests) == 3


def test_transient_5xx_is_retried(tmp_path: Path, server: OcrServer, real_ocr: list[RealOcr]) -> None:
    real = real_ocr[0]
    server.files[_path(real.barcode, real.image_id)] = ServedFile(orjson.dumps(real.payload))
    server.behaviour.fail_5xx = 1
    table = fetch_ocr_table(
        real.barcode, real.image_id, settings=_settings(tmp_path, server.base), backoff_s=0
    )
    assert table.num_rows == 1
    assert len(server.requests) == 2


def test_connection_refused_is_a_fetch_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="ConnectionError") as caught:
        fetch_ocr_table(
            "3038350013804", 11, settings=_settings(tmp_path, f"http://127.0.0.1:{port}"), backoff_s=0
        )
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not json</html>", NOT_JSON),
        (b"\x1f\x8b\x08\x00broken gzip", NOT_JSON),
        (orjson.dumps({"responses": [{"error": {"code": 3, "message": "Bad image data."}}]}), OCR_ERROR),
    ],
)
def test_unusable_bodies_raise_their_reason(
    tmp_path: Path, server: OcrServer, body: bytes, reason: str
) -> None:
    server.files[_path("3038350013804", 11)] = ServedFile(body)
    with pytest.raises(OcrRecordError) as caught:
        fetch_ocr_table("3038350013804", 11, settings=_settings(tmp_path, server.base))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("barcode", "image_id"), [("12", 1), ("../../etc", 1), ("3038350013804", "front_fr")]
)
def test_invalid_ids_are_refused_before_any_request(
    tmp_path: Path, server: OcrServer, barcode: str, image_id: str | int
) -> None:
    with pytest.raises(barcodes.InvalidBarcodeError):
        fetch_ocr_table(barcode, image_id, settings=_settings(tmp_path, server.base))
    assert server.requests == []


def test_a_file_never_moved_is_found_under_the_legacy_path(
    tmp_path: Path, server: OcrServer, synth_ocr: SynthOcr
) -> None:
    payload = orjson.loads(synth_ocr.lines()[0])["content"]
    legacy = "/images/products/001/234/567/8/3.json"
    assert (
        barcodes.legacy_ocr_url("0012345678", 3, settings=_settings(tmp_path, "http://x"))
        == "http://x" + legacy
    )
    server.files[legacy] = ServedFile(orjson.dumps(payload))
    settings = _settings(tmp_path, server.base)
    table = fetch_ocr_table("0012345678", "3", settings=settings, raw_code="0012345678")
    row = table.to_pylist()[0]
    assert (row["barcode"], row["source_image"]) == ("12345678", "/000/001/234/5678/3.jpg")  # the new id
    assert row["ocr_source"] == server.url(legacy)
    paths = [r["path"] for r in server.requests]
    assert paths == ["/images/products/000/001/234/5678/3.json", legacy]  # new layout first
    with pytest.raises(FetchNotFoundError):  # without the raw code, only the new path is tried
        fetch_ocr_table("0012345678", "3", settings=settings)
    with pytest.raises(FetchNotFoundError, match=r"/8/4\.json"):  # the last 404 is the one reported
        fetch_ocr_table("0012345678", "4", settings=settings, raw_code="0012345678")

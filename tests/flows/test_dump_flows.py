"""The dump-stage flows on a real Prefect API: download, convert, audit — results and artifacts."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from tests.flows.artifacts import artifact
from tests.support.http_server import DumpServer, ServedFile

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_download_flow_then_unchanged(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.dumps import download_dump

    body = gzip.compress(b"".join(orjson.dumps({"code": f"{i:013d}"}) + b"\n" for i in range(300)))
    with DumpServer() as server:
        server.files["/data/openbeautyfacts-products.jsonl.gz"] = ServedFile(body)
        monkeypatch.setenv("OFF_STATIC_URL_OBF", server.base)
        first = download_dump(flavor="obf", min_lines=0)
        second = download_dump(flavor="obf", min_lines=0)
    assert first["status"] == "downloaded" and first["lines"] == 300
    assert second["status"] == "unchanged"
    assert (data_dir / "dumps" / "obf" / "products.jsonl.gz").read_bytes() == body
    assert artifact("download-obf")


def test_convert_and_audit_flows(data_dir: Path, real_off_sample: Path) -> None:
    from flows.dumps import audit_barcodes, convert_to_parquet

    report = convert_to_parquet(flavor="off", source=str(real_off_sample))
    assert report["rows_out"] == report["lines_in"] == 718
    assert (data_dir / "parquet" / "off" / "products.parquet").is_file()
    audit = audit_barcodes(flavor="off")
    assert audit["products"] == 718
    assert (data_dir / "reports" / "barcodes" / "off" / "barcode-audit.csv").is_file()
    markdown = artifact("barcode-audit-off")
    assert markdown and audit["summary"] in markdown[0].data
    assert artifact("convert-off")


def test_failed_conversion_fails_the_flow(data_dir: Path, tmp_path: Path) -> None:
    from prefect.states import State

    from flows.dumps import convert_to_parquet

    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"code": "1"}\n' * 100)[:-20])
    state = convert_to_parquet(flavor="off", source=str(broken), return_state=True)
    assert isinstance(state, State) and state.is_failed()
    assert "truncated" in str(state.message) or "gzip" in str(state.message)


def _products(path: Path, count: int) -> str:
    path.write_bytes(b"".join(orjson.dumps({"code": f"{i:013d}"}) + b"\n" for i in range(count)))
    return str(path)


@pytest.mark.usefixtures("production_guard")
def test_convert_flow_applies_the_snapshot_guard(data_dir: Path, tmp_path: Path) -> None:
    """The flow path: the flavor's floor by default, min_rows to lower it, the shrink refused unless
    force, an input without any product refused even forced; each refusal fails the flow with its one-line
    reason and leaves the snapshot as it was."""
    from flows.dumps import convert_to_parquet

    out = data_dir / "parquet" / "off"
    hundred, eighty = _products(tmp_path / "100.jsonl", 100), _products(tmp_path / "80.jsonl", 80)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    state = convert_to_parquet(flavor="off", source=hundred, return_state=True)
    assert state.is_failed() and "fewer than the minimum 2,800,000" in str(state.message)
    assert not out.exists() or not any(out.iterdir())
    assert convert_to_parquet(flavor="off", source=hundred, min_rows=0)["rows_out"] == 100
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for source, force, message in [
        (eighty, False, "80.0% of the previous snapshot's 100"),
        (str(empty), True, "no valid product"),
    ]:
        state = convert_to_parquet(flavor="off", source=source, min_rows=0, force=force, return_state=True)
        assert state.is_failed() and message in str(state.message), state.message
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    report = convert_to_parquet(flavor="off", source=eighty, min_rows=0, force=True)
    assert (report["rows_out"], report["previous_rows"], report["shrink_accepted"]) == (80, 100, True)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        ("DownloadUnavailableError", True),  # the server kept failing: try again in a minute
        ("DownloadError", False),  # refused dump, missing file, HTTP 4xx: would fail the same way
    ],
)
def test_download_task_retries_only_unavailable_servers(error: str, retried: bool) -> None:
    import asyncio

    from prefect.states import exception_to_failed_state

    from flows.dumps import _worth_retrying
    from pipelines.download import dump as fetch

    state = asyncio.run(exception_to_failed_state(getattr(fetch, error)("boom")))
    assert _worth_retrying(None, None, state) is retried

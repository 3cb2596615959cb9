"""Downloads against a real HTTP server on 127.0.0.1: conditions, resume, retries, validation, atomicity."""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pipelines.common.config import get_settings
from pipelines.common.http import RetryPolicy
from pipelines.download.dump import DownloadError, download_dump
from pipelines.download.meta import meta_path, part_path, read_meta
from tests.support.http_server import DumpServer, ServedFile

FAST = RetryPolicy(attempts=4, backoff_s=0.01, timeout_s=10)
PATH = "/data/openfoodfacts-products.jsonl.gz"


def make_dump(lines: int, seed: int = 0) -> bytes:
    """A gzipped dump of ``lines`` products; random names keep it from compressing to nothing."""
    rng = random.Random(seed)
    body = b"".join(
        orjson.dumps({"code": f"{seed}{i:012d}", "product_name": rng.randbytes(300).hex()}) + b"\n"
        for i in range(lines)
    )
    return gzip.compress(body, compresslevel=1)


@pytest.fixture
def server() -> Iterator[DumpServer]:
    with DumpServer() as srv:
        srv.files[PATH] = ServedFile(make_dump(6000))
        yield srv


@pytest.fixture
def settings(data_dir: Path, server: DumpServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFF_STATIC_URL_OFF", server.base)
    monkeypatch.setenv("OFF_DUMP_MIN_LINES_OFF", "0")
    return get_settings()


def dump_file(settings) -> Path:
    return settings.dump_dir("off") / "products.jsonl.gz"


def test_first_download_installs_a_validated_dump(server: DumpServer, settings) -> None:
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded"
    body = server.files[PATH].body
    assert result.path.read_bytes() == body
    meta = read_meta(result.path)
    assert meta == result.meta
    assert meta.sha256 == hashlib.sha256(body).hexdigest()
    assert meta.lines == 6000 and meta.size == len(body)
    assert meta.etag == server.files[PATH].etag
    assert meta.url == server.url(PATH)
    assert not part_path(result.path).exists()


def test_second_run_is_conditional_and_unchanged(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    before = dump_file(settings).stat().st_mtime_ns
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "unchanged"
    last = server.requests[-1]["headers"]
    assert last["If-None-Match"] == server.files[PATH].etag
    assert last["If-Modified-Since"] == server.files[PATH].last_modified
    assert dump_file(settings).stat().st_mtime_ns == before


def test_same_etag_without_304_support_is_unchanged(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    server.behaviour.ignore_conditions = True
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "unchanged"


def test_force_downloads_again(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    result = download_dump("off", settings=settings, retry=FAST, force=True)
    assert result.status == "downloaded"
    assert "If-None-Match" not in server.requests[-1]["headers"]


def test_new_version_replaces_the_old(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    server.files[PATH] = ServedFile(make_dump(2500, seed=1), mtime=time.time() + 10)
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded"
    assert result.meta.lines == 2500
    assert dump_file(settings).read_bytes() == server.files[PATH].body


def test_dropped_connection_resumes_with_range(server: DumpServer, settings) -> None:
    body = server.files[PATH].body
    server.behaviour.drop_after = len(body) // 3
    server.behaviour.drops = 1
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded"
    assert 0 < result.resumed_from <= len(body) // 3  # what reached the disk before the break
    assert result.attempts == 2
    resumed = server.requests[-1]["headers"]
    assert resumed["Range"] == f"bytes={result.resumed_from}-"
    assert resumed["If-Range"] == server.files[PATH].etag
    assert dump_file(settings).read_bytes() == body


def test_server_ignoring_range_restarts_from_zero(server: DumpServer, settings) -> None:
    body = server.files[PATH].body
    server.behaviour.drop_after = len(body) // 2
    server.behaviour.drops = 1
    server.behaviour.ignore_range = True
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.resumed_from == 0
    assert dump_file(settings).read_bytes() == body


def test_file_changed_between_attempts_restarts(server: DumpServer, settings) -> None:
    """If-Range no longer matches: the server sends the whole new file and we start over."""
    server.behaviour.drop_after = 600_000
    server.behaviour.drops = 1
    with pytest.raises(DownloadError):
        download_dump("off", settings=settings, retry=RetryPolicy(attempts=1, backoff_s=0.01))
    assert 0 < part_path(dump_file(settings)).stat().st_size <= 600_000
    server.files[PATH] = ServedFile(make_dump(1800, seed=2), mtime=time.time() + 10)
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.resumed_from == 0
    assert result.meta.lines == 1800


def test_5xx_is_retried(server: DumpServer, settings) -> None:
    server.behaviour.fail_5xx = 2
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded" and result.attempts == 3


def test_persistent_5xx_fails_clearly_and_keeps_previous(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    previous = dump_file(settings).read_bytes()
    server.files[PATH] = ServedFile(make_dump(10, seed=3), mtime=time.time() + 10)
    server.behaviour.fail_5xx = 100
    with pytest.raises(DownloadError, match="after 4 attempts: HTTP 503"):
        download_dump("off", settings=settings, retry=FAST)
    assert dump_file(settings).read_bytes() == previous


def test_404_is_not_retried(server: DumpServer, settings) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_dump("off", url=server.url("/missing.jsonl.gz"), settings=settings, retry=FAST)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (make_dump(500)[:-40], "truncated|corrupt"),
        (gzip.compress(b'{"code": "1"}\n{"code": "2", "product'), "last line is incomplete"),
        (b"this is not gzip", "corrupt gzip"),
    ],
)
def test_invalid_dump_never_replaces_the_previous(
    server: DumpServer, settings, body: bytes, message: str
) -> None:
    download_dump("off", settings=settings, retry=FAST)
    previous, previous_meta = dump_file(settings).read_bytes(), meta_path(dump_file(settings)).read_bytes()
    server.files[PATH] = ServedFile(body, mtime=time.time() + 10)
    with pytest.raises(DownloadError, match=message):
        download_dump("off", settings=settings, retry=FAST)
    assert dump_file(settings).read_bytes() == previous
    assert meta_path(dump_file(settings)).read_bytes() == previous_meta
    assert not part_path(dump_file(settings)).exists()


def test_line_floor(server: DumpServer, settings) -> None:
    with pytest.raises(DownloadError, match="6,000 lines, fewer than the minimum 6,001"):
        download_dump("off", settings=settings, retry=FAST, min_lines=6001)
    assert not dump_file(settings).exists()


@pytest.mark.usefixtures("production_guard")
def test_default_floor_is_robotoffs() -> None:
    assert get_settings().dump_min_lines["off"] == 2_800_000


MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Open Food Facts - maintenance</title></head>\n"
    b"<body><h1>We will be back soon</h1></body>\n</html>\n"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (gzip.compress(MAINTENANCE_PAGE), r"0 of 5 sampled lines .* \(line 1: '<!DOCTYPE html>'\)"),
        (gzip.compress(b"".join(orjson.dumps({"id": i}) + b"\n" for i in range(500))), "0 of 101 sampled"),
        (gzip.compress(b"".join(orjson.dumps({"code": " "}) + b"\n" for i in range(5))), "0 of 5 sampled"),
        (gzip.compress(b"[1, 2, 3]\n"), "0 of 1 sampled"),
        (gzip.compress(b"\n\n"), "0 of 0 sampled"),
    ],
)
def test_content_that_is_not_products_is_refused_even_without_a_floor(
    server: DumpServer, settings, body: bytes, message: str
) -> None:
    """A gzipped maintenance page decodes and has whole lines: only its content tells it from a dump."""
    download_dump("off", settings=settings, retry=FAST)
    previous, previous_meta = dump_file(settings).read_bytes(), meta_path(dump_file(settings)).read_bytes()
    server.files[PATH] = ServedFile(body, mtime=time.time() + 10)
    with pytest.raises(DownloadError, match="not a product dump: " + message) as refused:
        download_dump("off", settings=settings, retry=FAST, min_lines=0)
    assert "\n" not in str(refused.value)
    assert dump_file(settings).read_bytes() == previous
    assert meta_path(dump_file(settings)).read_bytes() == previous_meta
    assert not part_path(dump_file(settings)).exists()


def test_a_few_bad_lines_do_not_refuse_a_dump(server: DumpServer, settings) -> None:
    """Dumps carry the odd broken line (the conversion quarantines it): a minority of the sample may fail."""
    lines = [orjson.dumps({"code": f"{i:013d}"}) for i in range(300)]
    lines[0], lines[7], lines[-1] = b"{broken", b"[1]", b'{"no": "code"}'
    server.files[PATH] = ServedFile(gzip.compress(b"\n".join(lines) + b"\n"))
    assert download_dump("off", settings=settings, retry=FAST, min_lines=0).meta.lines == 300


@pytest.mark.parametrize("compressed", [True, False])
def test_lines_are_sampled_across_the_whole_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    """Good first lines do not vouch for the rest: one line per SPREAD_BYTES of decompressed data is
    checked too, and the last line. Small reads, so that lines and sampling points fall across pieces."""
    from pipelines.download import validate

    monkeypatch.setattr(validate, "HEAD_LINES", 2)
    monkeypatch.setattr(validate, "SPREAD_BYTES", 64 * 1024)
    monkeypatch.setattr(validate, "CHUNK", 7_001)
    good = [orjson.dumps({"code": f"{i:013d}"}) for i in range(2)]
    junk = [b"<p>%d " % number + bytes(range(97, 123)) * 40 for number in range(3, 2003)]  # ~2 MB of markup
    body = b"\n".join(good + junk) + b"\n"
    source = tmp_path / ("dump.jsonl.gz" if compressed else "dump.jsonl")
    source.write_bytes(gzip.compress(body) if compressed else body)
    with pytest.raises(
        validate.DumpValidationError, match=r"not a product dump: 2 of (\d+) sampled"
    ) as refused:
        validate.validate_dump(source, min_lines=0)
    sampled = int(re.search(r"2 of (\d+) sampled", str(refused.value)).group(1))
    assert sampled >= 2 + 30  # the head, one line per 64 KB of ~2 MB, the last line
    number, shown = re.search(r"\(line (\d+): '<p>(\d+) ", str(refused.value)).groups()
    assert number == shown  # the first bad line sampled, with its true line number


def test_stale_sidecar_is_ignored(server: DumpServer, settings) -> None:
    download_dump("off", settings=settings, retry=FAST)
    dump_file(settings).write_bytes(b"something else")  # e.g. a crash between dump and sidecar renames
    assert read_meta(dump_file(settings)) is None
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded"
    assert "If-None-Match" not in server.requests[-1]["headers"]


@pytest.mark.parametrize("as_url", [True, False])
def test_local_file_source(tmp_path: Path, settings, as_url: bool) -> None:
    source = tmp_path / "dump.jsonl.gz"
    source.write_bytes(make_dump(300))
    url = source.as_uri() if as_url else str(source)
    first = download_dump("off", url=url, settings=settings)
    assert first.status == "downloaded" and first.meta.lines == 300
    assert download_dump("off", url=url, settings=settings).status == "unchanged"
    os.utime(source, (time.time() + 100, time.time() + 100))
    assert download_dump("off", url=url, settings=settings).status == "downloaded"


def test_sigkill_mid_transfer_keeps_previous_and_rerun_resumes(
    server: DumpServer, settings, data_dir: Path, tmp_path: Path
) -> None:
    download_dump("off", settings=settings, retry=FAST)
    previous = dump_file(settings).read_bytes()
    previous_meta = meta_path(dump_file(settings)).read_bytes()
    server.files[PATH] = ServedFile(make_dump(20000, seed=4), mtime=time.time() + 10)
    new_body = server.files[PATH].body
    server.behaviour.bytes_per_second = len(new_body) / 4  # ~4 s for the whole body
    env = dict(os.environ, OFF_DATA_DIR=str(data_dir))
    exe = Path(sys.executable).with_name("offpipe")
    proc = subprocess.Popen([str(exe), "download", "--flavor", "off"], env=env, stderr=subprocess.DEVNULL)
    part = part_path(dump_file(settings))
    deadline = time.time() + 30
    while time.time() < deadline and (not part.exists() or part.stat().st_size < len(new_body) // 4):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < part.stat().st_size < len(new_body)
    assert dump_file(settings).read_bytes() == previous
    assert meta_path(dump_file(settings)).read_bytes() == previous_meta
    server.behaviour.bytes_per_second = None
    result = download_dump("off", settings=settings, retry=FAST)
    assert result.status == "downloaded"
    assert result.resumed_from > 0
    assert dump_file(settings).read_bytes() == new_body

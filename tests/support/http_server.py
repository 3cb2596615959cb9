"""A real HTTP server on 127.0.0.1 for download tests: ETag, 304, Range/If-Range, failures on demand."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ServedFile:
    body: bytes
    mtime: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'

    @property
    def last_modified(self) -> str:
        return formatdate(self.mtime, usegmt=True)


@dataclass
class Behaviour:
    ignore_range: bool = False
    ignore_conditions: bool = False
    fail_5xx: int = 0  # answer 503 to this many requests first
    drop_after: int | None = None  # close the connection after this many body bytes …
    drops: int = 0  # … for this many requests
    bytes_per_second: float | None = None  # throttle bodies (for kill tests)
    status_override: int | None = None


class DumpServer:
    """Serve ``files`` (path → ServedFile) from a thread; ``requests`` records what clients sent."""

    def __init__(self) -> None:
        self.files: dict[str, ServedFile] = {}
        self.behaviour = Behaviour()
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> DumpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        self.requests.append(
            {"method": request.command, "path": request.path, "headers": dict(request.headers)}
        )
        behaviour = self.behaviour
        if behaviour.status_override:
            return self._reply(request, behaviour.status_override, b"nope", {})
        if behaviour.fail_5xx > 0:
            behaviour.fail_5xx -= 1
            return self._reply(request, 503, b"busy", {})
        served = self.files.get(request.path)
        if served is None:
            return self._reply(request, 404, b"not found", {})
        headers = {"ETag": served.etag, "Last-Modified": served.last_modified, "Accept-Ranges": "bytes"}
        if not behaviour.ignore_conditions:
            if request.headers.get("If-None-Match") == served.etag:
                return self._reply(request, 304, b"", headers)
            if (
                "If-None-Match" not in request.headers
                and request.headers.get("If-Modified-Since") == served.last_modified
            ):
                return self._reply(request, 304, b"", headers)
        body, status = served.body, 200
        range_header = request.headers.get("Range")
        if range_header and not behaviour.ignore_range:
            if_range = request.headers.get("If-Range")
            if if_range in (None, served.etag, served.last_modified):
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(served.body):
                    return self._reply(request, 416, b"", {"Content-Range": f"bytes */{len(served.body)}"})
                body, status = served.body[start:], 206
                headers["Content-Range"] = f"bytes {start}-{len(served.body) - 1}/{len(served.body)}"
        self._reply(request, status, b"" if head else body, headers, length=len(body))

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict,
        length: int | None = None,
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body) if length is None else length))
        request.end_headers()
        behaviour = self.behaviour
        if behaviour.drops > 0 and behaviour.drop_after is not None and len(body) > behaviour.drop_after:
            behaviour.drops -= 1
            request.wfile.write(body[: behaviour.drop_after])
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(2)  # the client sees the body end early
            return
        if behaviour.bytes_per_second:
            step = max(1, int(behaviour.bytes_per_second / 20))
            for start in range(0, len(body), step):
                request.wfile.write(body[start : start + step])
                request.wfile.flush()
                time.sleep(0.05)
            return
        request.wfile.write(body)


def serve_as_bucket(
    server: DumpServer, archive_lines: list[bytes], extra_keys: tuple[str, ...] = ()
) -> list[str]:
    """Lay out an OCR archive's records (``{"source": …, "content": …}`` lines) on ``server`` as the images
    bucket does: ``data/<image folder>/<imgid>.json.gz`` each, every key listed in ``data/data_keys.gz``
    (with ``extra_keys``: listed, not served). The keys listed."""
    import gzip
    import json

    keys = list(extra_keys)
    for line in archive_lines:
        record = json.loads(line)
        key = "data" + record["source"] + ".gz"
        server.files["/" + key] = ServedFile(gzip.compress(json.dumps(record["content"]).encode()))
        keys.append(key)
    server.files["/data/data_keys.gz"] = ServedFile(gzip.compress("\n".join(keys).encode()))
    return keys

"""A Product Opener stand-in on 127.0.0.1 for the write-back tests (issue 23).

It keeps products in memory (code → fields), implements ``POST /cgi/product_jqm2.pl`` as Product Opener
does for the fields offpipe sends (``add_labels``, ``add_categories``, ``add_brands``, ``add_stores``,
``quantity``, ``expiration_date``, ``emb_codes``; form-encoded, ``user_id`` and ``password`` checked),
answers with ``status_verbose``; serves ``GET /api/v2/product/<code>`` (the read API); records every
request; and can be told to fail a write: answer 500 or 403, answer late (a timeout), answer 200 without
saving, or close the connection without answering.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import orjson

_ADD_TAGS = {"add_labels": "labels_tags", "add_categories": "categories_tags", "add_stores": "stores_tags"}
_SET_FIELDS = ("quantity", "expiration_date", "emb_codes")


def _tag(value: str, *, taxonomy: bool) -> str:
    """Product Opener's tag of a value, as far as these tests need it: taxonomized fields (labels,
    categories) carry a language prefix, free-text ones (stores) do not."""
    tag = value.strip().lower().replace(" ", "-")
    return tag if ":" in value or not taxonomy else "en:" + tag


@dataclass
class Failures:
    """Failures on demand, each for the next ``n`` requests."""

    status_500: int = 0
    status_4xx: int = 0
    slow: int = 0  # answer after ``slow_s`` seconds
    slow_s: float = 2.0
    drop: int = 0  # close the connection without an answer
    not_saved: int = 0  # answer 200 with another status_verbose


@dataclass
class ProductOpener:
    """The stand-in: ``products`` (code → fields), ``requests`` (each one's path, headers and form fields)."""

    user: str = "offpipe-bot"
    password: str = "s3cret"
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # the writes
    reads: list[str] = field(default_factory=list)  # the codes read through the API
    timings: list[float] = field(default_factory=list)  # seconds spent answering each write
    fail: Failures = field(default_factory=Failures)

    def __post_init__(self) -> None:
        server = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm holds the body
            # until the client's delayed ACK (~40 ms a request), which Product Opener's servers do not do
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

            def do_GET(self) -> None:
                server._read(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ProductOpener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def writes(self) -> list[dict[str, str]]:
        """The form fields of every write received (the password left out)."""
        return [{k: v for k, v in r["form"].items() if k != "password"} for r in self.requests]

    def _read(self, request: BaseHTTPRequestHandler) -> None:
        """``GET /api/v2/product/<code>``: the product as the read API gives it (the API product source)."""
        code = request.path.split("?")[0].removeprefix("/api/v2/product/").removesuffix(".json")
        with self._lock:
            self.reads.append(code)
            product = self.products.get(code)
        if product is None:
            status, body = 404, orjson.dumps({"status": 0, "status_verbose": "product not found"})
        else:
            document = {"code": code, "product_type": "food", **product}
            status, body = 200, orjson.dumps({"status": 1, "code": code, "product": document})
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode()
        form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"path": request.path, "headers": dict(request.headers), "form": form})
            status, body = self._answer(request.path, form)
        if status == "drop":
            request.close_connection = True
            request.connection.shutdown(2)
            return
        if status == "slow":
            time.sleep(self.fail.slow_s)
            status, body = 200, b'{"status": 1, "status_verbose": "fields saved"}'
        try:
            request.send_response(int(status))
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:  # the client gave up waiting (the slow answer): what that test wants
            request.close_connection = True
        self.timings.append(time.perf_counter() - started)

    def _answer(self, path: str, form: dict[str, str]) -> tuple[int | str, bytes]:
        fail = self.fail
        for name, outcome in (("drop", "drop"), ("slow", "slow"), ("status_500", 500), ("status_4xx", 403)):
            if getattr(fail, name) > 0:
                setattr(fail, name, getattr(fail, name) - 1)
                return outcome, b'{"status": 0, "status_verbose": "failure"}'
        if path != "/cgi/product_jqm2.pl":
            return 404, b'{"status": 0, "status_verbose": "unknown endpoint"}'
        if form.get("user_id") != self.user or form.get("password") != self.password:
            return 200, b'{"status": 0, "status_verbose": "authentication failed"}'
        if fail.not_saved > 0:
            fail.not_saved -= 1
            return 200, b'{"status": 0, "status_verbose": "no code or invalid code"}'
        product = self.products.setdefault(form.get("code", ""), {})
        for name, tags in _ADD_TAGS.items():
            if form.get(name):
                tag = _tag(form[name], taxonomy=name != "add_stores")
                product[tags] = [*product.get(tags, []), *([] if tag in product.get(tags, []) else [tag])]
        if form.get("add_brands"):
            product["brands"] = ",".join(b for b in (product.get("brands"), form["add_brands"]) if b)
        for name in _SET_FIELDS:
            if name in form:
                product[name] = form[name]
        return 200, b'{"status": 1, "status_verbose": "fields saved"}'

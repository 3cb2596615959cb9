"""Checks a downloaded reference file must pass before it may replace the installed copy.

Why validate at all: the installed copy is what every predictor reads, and a bad download is not rare — an
HTML error page served with status 200 by a proxy, a truncated body, a Git-LFS *pointer* instead of the file
(what ``raw.githubusercontent.com`` serves for LFS-tracked files), an empty file after an upstream mistake.
Each of these would otherwise silently empty a keyword list or break a taxonomy load. A file that fails keeps
the previous good copy in place.
"""

from __future__ import annotations

import gzip
import io
import zlib

import orjson

from pipelines.common.errors import OffpipeError
from pipelines.reference.catalog import Kind

# Far above the largest real file (ingredients.full.json is a few tens of MB); guards against gzip bombs.
MAX_DECODED_BYTES = 1024 * 1024 * 1024
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
# gzip of the installed taxonomies: mtime 0 so that the same JSON always gives the same bytes.
TAXONOMY_GZIP_LEVEL = 6


class ValidationError(OffpipeError, ValueError):
    """The downloaded body is not a usable reference file."""


def validate(kind: Kind, body: bytes) -> bytes:
    """Check ``body`` for a file of ``kind``; return the bytes to install (taxonomies are gzip-compressed)."""
    if kind is Kind.taxonomy:
        check_taxonomy(body)
        return gzip.compress(body, compresslevel=TAXONOMY_GZIP_LEVEL, mtime=0)
    if kind is Kind.text:
        check_text(body)
    elif kind is Kind.json:
        check_json(body)
    elif kind is Kind.gzip_text:
        check_text(gunzip(body))
    elif kind is Kind.gzip_json:
        check_json(gunzip(body))
    else:  # pragma: no cover - every Kind is handled above
        raise ValidationError(f"no validation rule for {kind}")
    return body


def check_taxonomy(body: bytes) -> None:
    """A ``*.full.json`` taxonomy: a non-empty object of node id → node object (what the SDK loads)."""
    data = _json(body)
    if not isinstance(data, dict) or not data:
        raise ValidationError("taxonomy is not a non-empty JSON object")
    bad = next((key for key, node in data.items() if not isinstance(node, dict)), None)
    if bad is not None:
        raise ValidationError(f"taxonomy node {bad!r} is not a JSON object")


def check_text(body: bytes) -> None:
    """Non-empty UTF-8 text that is not a Git-LFS pointer."""
    if not body.strip():
        raise ValidationError("file is empty")
    if body.startswith(LFS_POINTER_PREFIX):
        raise ValidationError("file is a Git-LFS pointer, not its content (use the media URL)")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"file is not UTF-8 text: {exc}") from None


def check_json(body: bytes) -> None:
    """A JSON document that is not empty (``{}``, ``[]`` or ``null`` would mean an empty map or list)."""
    if not _json(body):
        raise ValidationError("JSON document is empty")


def gunzip(body: bytes) -> bytes:
    """The decoded content of a gzip body, refusing truncated, corrupt or oversized streams."""
    if body.startswith(LFS_POINTER_PREFIX):
        raise ValidationError("file is a Git-LFS pointer, not its content (use the media URL)")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as handle:
            data = handle.read(MAX_DECODED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(f"gzip does not decode: {exc}") from None
    if len(data) > MAX_DECODED_BYTES:
        raise ValidationError(f"gzip decodes to more than {MAX_DECODED_BYTES:,} bytes")
    return data


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"invalid JSON: {exc}") from None

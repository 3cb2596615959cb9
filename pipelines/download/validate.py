"""Validation of a downloaded dump before it may replace the previous one.

A dump is accepted when its gzip stream decodes to the end (multi-member files included), its last line is
complete, and it has at least the flavor's minimum number of lines. The same pass computes the sha256 of the
compressed bytes and counts lines, so validation reads the file once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipelines.gzip_stream import GzipDecodeError, GzipStream

CHUNK = 4 * 1024 * 1024


class DumpValidationError(ValueError):
    """The file is not a complete, plausible dump: it must not replace anything."""


@dataclass(frozen=True)
class Validated:
    size: int
    sha256: str
    lines: int


def validate_dump(path: Path, min_lines: int = 0, progress: Callable[[int], None] | None = None) -> Validated:
    """Decode ``path`` to its end (gzip when it starts with the gzip magic), count lines, hash it; raise if it
    is not whole. The format is sniffed, not taken from the name: a transfer in progress is ``*.part``."""
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if path.name.endswith((".gz", ".gz.part")) and not gzipped:
        raise DumpValidationError(f"{path.name}: corrupt gzip data (no gzip header)")
    digest = hashlib.sha256()
    decoder = GzipStream() if gzipped else None
    lines = 0
    size = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
            data = chunk
            if decoder is not None:
                try:
                    data = decoder.feed(chunk)
                except GzipDecodeError as exc:
                    raise DumpValidationError(f"{path.name}: corrupt gzip data ({exc})") from exc
            if data:
                lines += data.count(b"\n")
                last = (last + data)[-65536:] if len(data) < 65536 else data[-65536:]
    if decoder is not None and not decoder.eof:
        raise DumpValidationError(f"{path.name}: gzip stream is truncated (no end of stream)")
    if size == 0:
        raise DumpValidationError(f"{path.name}: empty file")
    if last and not last.endswith(b"\n"):
        _check_last_line(path, last)
        lines += 1
    if lines < min_lines:
        raise DumpValidationError(f"{path.name}: {lines:,} lines, fewer than the minimum {min_lines:,}")
    return Validated(size=size, sha256=digest.hexdigest(), lines=lines)


def _check_last_line(path: Path, tail: bytes) -> None:
    """A final line without newline is accepted only if it is a whole JSON value."""
    last_line = tail.rsplit(b"\n", 1)[-1]
    try:
        orjson.loads(last_line)
    except orjson.JSONDecodeError:
        raise DumpValidationError(f"{path.name}: the last line is incomplete") from None

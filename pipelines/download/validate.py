"""Validation of a downloaded dump before it may replace the previous one.

A dump is accepted when its gzip stream decodes to the end (multi-member files included), its last line is
complete, it has at least the flavor's minimum number of lines, and its lines are products: of a sample (the
first lines, one line every :data:`SPREAD_BYTES` of decompressed data, the last line), at least half must be
JSON objects with a non-empty ``code``. The line floor can be 0 (tests, small flavors); the content check
cannot be turned off, so a gzipped HTML maintenance page or an unrelated file never replaces a dump. The same
pass computes the sha256 of the compressed bytes and counts lines, so validation reads the file once; the
sample costs a few hundred JSON parses whatever the dump's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipelines.common.errors import OffpipeError
from pipelines.common.gzip_stream import GzipDecodeError, GzipStream

CHUNK = 4 * 1024 * 1024
HEAD_LINES = 100  # first lines checked
HEAD_BYTES = 8 * 1024 * 1024  # … within this much decompressed data (dump lines average ~17 KB at OFF)
SPREAD_BYTES = 256 * 1024 * 1024  # then one line per this much decompressed data (~250 on OFF's dump)
SNIPPET_CHARS = 60


class DumpValidationError(OffpipeError, ValueError):
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
    sample = _Sample()
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
                sample.feed(data, lines)
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
    sample.finish(last, lines)
    sample.check(path.name)
    return Validated(size=size, sha256=digest.hexdigest(), lines=lines)


def _check_last_line(path: Path, tail: bytes) -> None:
    """A final line without newline is accepted only if it is a whole JSON value."""
    last_line = tail.rsplit(b"\n", 1)[-1]
    try:
        orjson.loads(last_line)
    except orjson.JSONDecodeError:
        raise DumpValidationError(f"{path.name}: the last line is incomplete") from None


class _Sample:
    """Lines taken from the decompressed stream as it goes by, checked once it has been read."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.head_done = False
        self.next_spread = SPREAD_BYTES
        self.seen = 0  # decompressed bytes so far
        self.lines: dict[int, bytes] = {}  # line number → line

    def feed(self, data: bytes, lines_before: int) -> None:
        if not self.head_done:
            self.head += data[: HEAD_BYTES - len(self.head)]
            if self.head.count(b"\n") >= HEAD_LINES or len(self.head) >= HEAD_BYTES:
                self._take_head()
        start_of_piece = self.seen
        self.seen += len(data)
        while self.next_spread < self.seen:
            # The first line that starts after this point and ends in this piece; when there is none, the
            # point moves to the start of the next piece.
            start = data.find(b"\n", max(self.next_spread - start_of_piece, 0))
            end = data.find(b"\n", start + 1) if start >= 0 else -1
            if end < 0:
                self.next_spread = self.seen
                break
            self.lines[lines_before + data.count(b"\n", 0, start + 1) + 1] = data[start + 1 : end]
            self.next_spread += SPREAD_BYTES

    def finish(self, tail: bytes, total_lines: int) -> None:
        if not self.head_done:
            self._take_head()
        body = tail.removesuffix(b"\n")
        if b"\n" in body or self.seen == len(tail):  # the last line is whole in the tail
            self.lines[total_lines] = body.rsplit(b"\n", 1)[-1]

    def check(self, name: str) -> None:
        """Raise unless at least half of the sampled lines (blank ones aside) are products."""
        checked = [(number, line) for number, line in sorted(self.lines.items()) if line.strip()]
        bad = [(number, line) for number, line in checked if not _is_product(line)]
        if not checked or 2 * len(bad) > len(checked):
            number, line = bad[0] if bad else (0, b"")
            snippet = line[:SNIPPET_CHARS].decode("utf-8", errors="replace")
            where = f" (line {number:,}: {snippet!r})" if bad else ""
            raise DumpValidationError(
                f"{name}: not a product dump: {len(checked) - len(bad)} of {len(checked)} sampled lines are "
                f"JSON objects with a code{where}"
            )

    def _take_head(self) -> None:
        complete = bytes(self.head).split(b"\n")[:-1]  # the part after the last newline may be cut
        self.lines.update(enumerate(complete[:HEAD_LINES], start=1))
        self.head = bytearray()
        self.head_done = True


def _is_product(line: bytes) -> bool:
    """A JSON object with a non-empty ``code`` (a string, or a number as old dumps may have)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    code = doc.get("code") if isinstance(doc, dict) else None
    if isinstance(code, str):
        return bool(code.strip())
    return isinstance(code, int) and not isinstance(code, bool)

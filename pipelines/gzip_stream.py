"""Incremental gzip decoding with ISA-L, across member boundaries.

A gzip file may hold several members back to back (our synthetic dumps do; gzip, zcat and DuckDB read them
as one stream). zlib-style decompressors stop at the end of a member; this decoder starts the next one.
ISA-L's inflate is about twice as fast as zlib's, and decoding the dump is on the critical path of both the
download check and the conversion.
"""

from __future__ import annotations

import zlib

from isal import isal_zlib


class GzipDecodeError(ValueError):
    """The data is not a valid gzip stream."""


class GzipStream:
    """Feed compressed chunks, get decompressed bytes; ``eof`` tells whether the last member ended."""

    def __init__(self) -> None:
        self._decoder = isal_zlib.decompressobj(wbits=31)

    def feed(self, chunk: bytes) -> bytes:
        out = []
        try:
            out.append(self._decoder.decompress(chunk))
            while self._decoder.eof and self._decoder.unused_data:
                rest = self._decoder.unused_data
                self._decoder = isal_zlib.decompressobj(wbits=31)
                out.append(self._decoder.decompress(rest))
        except (zlib.error, isal_zlib.error) as exc:
            raise GzipDecodeError(str(exc)) from exc
        return b"".join(out)

    @property
    def eof(self) -> bool:
        return self._decoder.eof

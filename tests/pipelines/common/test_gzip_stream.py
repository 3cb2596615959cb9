"""Incremental gzip decoding across members, in any chunking."""

from __future__ import annotations

import gzip

import pytest

from pipelines.common.gzip_stream import GzipDecodeError, GzipStream


@pytest.mark.parametrize("chunk", [1, 7, 100, 10_000])
def test_members_decode_as_one_stream(chunk: int) -> None:
    data = gzip.compress(b"first\n" * 50) + gzip.compress(b"second\n" * 50) + gzip.compress(b"")
    stream = GzipStream()
    out = b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    assert out == b"first\n" * 50 + b"second\n" * 50
    assert stream.eof


@pytest.mark.parametrize(
    ("chunk", "max_length"), [(1, 1), (7, 3), (100, 64), (10_000, 1_000), (10_000, 1 << 20)]
)
def test_pieces_are_the_stream_in_bounded_pieces(chunk: int, max_length: int) -> None:
    data = gzip.compress(b"first\n" * 500) + gzip.compress(b"second\n" * 500) + gzip.compress(b"")
    stream = GzipStream()
    pieces = [p for i in range(0, len(data), chunk) for p in stream.pieces(data[i : i + chunk], max_length)]
    assert b"".join(pieces) == b"first\n" * 500 + b"second\n" * 500
    assert all(0 < len(p) <= max_length for p in pieces)
    assert stream.eof


def test_truncated_stream_is_not_at_eof() -> None:
    stream = GzipStream()
    stream.feed(gzip.compress(b"x" * 1000)[:-10])
    assert not stream.eof


def test_garbage_raises() -> None:
    with pytest.raises(GzipDecodeError):
        GzipStream().feed(b"\x1f\x8b\x08\x00garbage that is not deflate data at all")
    with pytest.raises(GzipDecodeError):
        list(GzipStream().pieces(b"\x1f\x8b\x08\x00garbage that is not deflate data at all", 100))

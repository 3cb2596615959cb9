"""Atomic file writes: a reader (a running pipeline, a concurrent run, a restart after a crash) sees the old
file or the new one, never half of one.

How: the content goes to a uniquely named temp file in the target's folder (same file system, so the final
rename is atomic; unique, so two writers never share one), is fsynced, then renamed over the target. Any
exception removes the temp file; a SIGKILL can leave one behind, named ``.<target name>.<random>.tmp`` so that
a sweep (:func:`pipelines.reference.meta.sweep_stale_temps`) recognises it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

TEMP_SUFFIX = ".tmp"


def temp_name_prefix(path: Path) -> str:
    """How the temp files of ``path`` start (they end in :data:`TEMP_SUFFIX`)."""
    return f".{path.name}."


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside ``path`` for a writer that wants a file name (Parquet, Arrow IPC, DuckDB ``COPY``);
    when the block ends normally the file there is fsynced and renamed over ``path``. The temp file exists
    (empty) when the block starts and ends in ``.tmp``: give writers their format explicitly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_name_prefix(path), suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        tmp.chmod(0o644)  # mkstemp creates 0600; outputs are read by other users (workers, web servers)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON, atomically."""
    write_bytes(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))


def _fsync(path: Path) -> None:
    """Flush the finished file to disk before the rename makes it visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

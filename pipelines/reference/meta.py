"""Sidecar metadata of an installed reference file, and the sweep of temp files a killed run left.

The sidecar (``<file>.meta.json`` beside the file) records the source URL, the validators the server sent
(ETag, Last-Modified) for the next conditional request, the sha256 of the body as served, the installed size,
when it was downloaded and when the server was last consulted (``checked_at``, what ``max_age`` compares).
A sidecar whose size does not match its file (a crash between the two renames) is ignored, so it can never
vouch for a file that is not there.

Both are written atomically (:mod:`pipelines.common.files`): readers (a running pipeline, a concurrent
refresh) see the old or the new file, never half of one, and two concurrent refreshes never write into the
same temp file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from pipelines.common import files

logger = logging.getLogger(__name__)

STALE_TEMP_S = 3600.0  # temp files older than this were left by a killed run


@dataclass(frozen=True)
class ReferenceMeta:
    url: str
    size: int  # of the installed file
    sha256: str  # of the body as served (before a taxonomy is compressed)
    downloaded_at: str
    checked_at: str
    etag: str | None = None
    last_modified: str | None = None


def meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".meta.json")


def read_meta(dest: Path) -> ReferenceMeta | None:
    """The sidecar of ``dest`` if it parses and matches the installed file's size, else ``None``."""
    try:
        meta = ReferenceMeta(**orjson.loads(meta_path(dest).read_bytes()))
    except (FileNotFoundError, orjson.JSONDecodeError, TypeError):
        return None
    if not dest.is_file() or dest.stat().st_size != meta.size:
        return None
    return meta


def write_meta(dest: Path, meta: ReferenceMeta) -> None:
    files.write_json(meta_path(dest), asdict(meta))


def sweep_stale_temps(dest: Path, older_than_s: float = STALE_TEMP_S) -> None:
    """Delete temp files of ``dest`` (and its sidecar) that a killed run left behind."""
    if not dest.parent.is_dir():
        return
    cutoff = time.time() - older_than_s
    pattern = f"{files.temp_name_prefix(dest)}*{files.TEMP_SUFFIX}"  # also matches the sidecar's temps
    for tmp in dest.parent.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                logger.info("removed stale temp file %s", tmp)

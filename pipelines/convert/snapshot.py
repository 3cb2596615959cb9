"""Where a flavor's Parquet snapshot lives, and which dump it was converted from.

The conversion writes the snapshot (``products.parquet``) and its report beside it; every later stage (the
predictors, the insight refresh, the category model, the listener's snapshot source) finds them here, and
the ETag of the dump they came from, from the download's sidecar (docs/nightly.md).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)

PRODUCTS_FILE = "products.parquet"
REPORT_FILE = "products.report.json"


class SnapshotNotFoundError(OffpipeError, FileNotFoundError):
    """The flavor has no Parquet snapshot (or OCR table) to predict from."""


def products_path(flavor: Flavor | str, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).parquet_dir(Flavor(flavor)) / PRODUCTS_FILE


def existing_snapshot(flavor: Flavor | str, settings: Settings | None = None) -> Path:
    """The flavor's Parquet snapshot, or :class:`SnapshotNotFoundError` when it has not been converted."""
    path = products_path(flavor, settings)
    if not path.is_file():
        raise SnapshotNotFoundError(f"no Parquet table at {path}")
    return path


def convert_report(flavor: Flavor | str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The report of the conversion that wrote the flavor's snapshot; None when missing or unreadable."""
    path = (settings or get_settings()).parquet_dir(Flavor(flavor)) / REPORT_FILE
    try:
        data = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def snapshot_etag(flavor: Flavor | str, settings: Settings | None = None) -> str | None:
    """ETag of the downloaded dump the flavor's snapshot was converted from, when that can be told.

    The download sidecar holds the ETag of the dump now on disk; it describes the snapshot only if the
    conversion report names that dump as its source and the conversion came after the download (a dump
    downloaded but not yet converted, or a snapshot converted from another file, gets None, not a wrong ETag).
    """
    from pipelines.download.dump import DUMP_NAME
    from pipelines.download.meta import read_meta

    settings = settings or get_settings()
    flavor = Flavor(flavor)
    dump = settings.dump_dir(flavor) / DUMP_NAME
    meta = read_meta(dump)
    if meta is None or not meta.etag:
        return None
    converted = convert_report(flavor, settings)
    if converted is None:
        return None
    source = Path(str(converted.get("source", ""))).expanduser()
    if source.resolve() != dump.resolve():
        logger.info("snapshot of %s converted from %s, not the downloaded dump: no ETag", flavor, source)
        return None
    if not _not_before(str(converted.get("converted_at", "")), meta.downloaded_at):
        logger.warning("%s dump downloaded after its last conversion: the snapshot's ETag is unknown", flavor)
        return None
    return meta.etag


def _not_before(later: str, earlier: str) -> bool:
    """``later >= earlier`` for two ISO 8601 times; False when either does not parse."""
    try:
        return datetime.fromisoformat(later) >= datetime.fromisoformat(earlier)
    except (TypeError, ValueError):
        return False

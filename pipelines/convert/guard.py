"""The snapshot guard: a conversion may replace the flavor's snapshot only with a plausible one.

A snapshot with no product, or far fewer than the flavor has, is not news: it is a bad input (an empty file,
a maintenance page, a truncated export). Installed, it would make the listener and the refresh treat the
missing products as deleted (docs/dumps.md, "Snapshot guard"). The counts are known only once the streaming
conversion has written its temporary files, so :func:`check_snapshot` runs then, before any rename; a refusal
leaves the previous snapshot, quarantine and report as they were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.common.config import Flavor, Settings
from pipelines.convert.errors import SnapshotRefusedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotGuard:
    """What a new snapshot must reach. ``min_rows`` and ``min_ratio`` at 0 disable their check; nothing
    disables the refusal of a snapshot without any row."""

    min_rows: int
    min_ratio: float
    accept_shrink: bool = False  # --force: a snapshot below min_ratio × the previous one is accepted

    @classmethod
    def for_flavor(
        cls, settings: Settings, flavor: Flavor, *, min_rows: int | None = None, force: bool = False
    ) -> SnapshotGuard:
        """The flavor's floor is the dump's (``OFF_DUMP_MIN_LINES_<FLAVOR>``: a dump line is a product),
        unless ``min_rows`` is given; the ratio is ``OFF_SNAPSHOT_MIN_RATIO``."""
        floor = settings.dump_min_lines.get(flavor, 0) if min_rows is None else min_rows
        if floor < 0:
            raise ValueError("min_rows cannot be negative")
        return cls(min_rows=floor, min_ratio=settings.snapshot_min_ratio, accept_shrink=force)


def previous_rows(snapshot: Path) -> int | None:
    """Row count of the installed snapshot, from its Parquet footer (no data read); None when there is none
    or it cannot be read (then there is nothing good to protect)."""
    if not snapshot.is_file():
        return None
    try:
        return pq.read_metadata(snapshot).num_rows
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a bad footer
        logger.warning("cannot read the row count of %s (%s): no shrink check", snapshot, exc)
        return None


def check_snapshot(
    flavor: Flavor, rows: int, lines: int, quarantined: dict[str, int], previous: int | None,
    guard: SnapshotGuard,
) -> bool:  # fmt: skip
    """Raise :class:`SnapshotRefusedError` when ``rows`` may not replace the snapshot; return whether a shrink
    below the ratio was accepted (``--force``)."""
    name = flavor.value
    figures = {
        "rows": rows,
        "min_rows": guard.min_rows,
        "previous_rows": previous,
        "min_ratio": guard.min_ratio,
    }
    refused = f"{name} snapshot refused, nothing replaced:"
    if rows == 0:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in quarantined.items())
        found = f"{_count(lines, 'line')}, all quarantined ({reasons})" if lines else "the input has no line"
        raise SnapshotRefusedError(f"{refused} no valid product ({found})", check="no_rows", **figures)
    if rows < guard.min_rows:
        raise SnapshotRefusedError(
            f"{refused} {_count(rows, 'row')}, fewer than the minimum {guard.min_rows:,} "
            f"(OFF_DUMP_MIN_LINES_{name.upper()} or --min-rows; 0 disables it)",
            check="min_rows", **figures,
        )  # fmt: skip
    if previous and guard.min_ratio and rows < guard.min_ratio * previous:
        if guard.accept_shrink:
            logger.warning("%s snapshot shrinks from %d to %d rows: accepted (--force)", name, previous, rows)
            return True
        raise SnapshotRefusedError(
            f"{refused} {_count(rows, 'row')}, {rows / previous:.1%} of the previous snapshot's "
            f"{previous:,}, below {guard.min_ratio * 100:g}% (OFF_SNAPSHOT_MIN_RATIO; --force accepts it)",
            check="shrink", **figures,
        )  # fmt: skip
    return False


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")

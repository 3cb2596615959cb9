"""Sidecar metadata of a downloaded dump.

The sidecar (``products.jsonl.gz.meta.json``) records where the dump came from and what was validated: URL,
ETag, Last-Modified, size, sha256, line count and time. The next download sends its ETag / Last-Modified as
conditions. A sidecar whose size does not match the dump beside it is stale (a crash between the two renames)
and is ignored, so a conditional request can never report "unchanged" for a dump that is not there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from pipelines.common import files


@dataclass(frozen=True)
class DumpMeta:
    url: str
    size: int
    sha256: str
    lines: int
    downloaded_at: str
    etag: str | None = None
    last_modified: str | None = None
    flavor: str | None = None


@dataclass(frozen=True)
class PartMeta:
    """What a partial download was fetched against: resuming is only safe against the same validator."""

    url: str
    etag: str | None
    last_modified: str | None

    @property
    def validator(self) -> str | None:
        """The value for ``If-Range``: a strong ETag, else Last-Modified."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified


def meta_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".meta.json")


def part_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".part")


def part_meta_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".part.json")


def read_meta(dump: Path) -> DumpMeta | None:
    """The sidecar of ``dump`` if it exists, parses, and matches the dump's size."""
    path = meta_path(dump)
    try:
        data = orjson.loads(path.read_bytes())
        meta = DumpMeta(**data)
    except (FileNotFoundError, orjson.JSONDecodeError, TypeError):
        return None
    if not dump.is_file() or dump.stat().st_size != meta.size:
        return None
    return meta


def write_meta(dump: Path, meta: DumpMeta) -> None:
    files.write_json(meta_path(dump), asdict(meta))


def read_part_meta(dump: Path) -> PartMeta | None:
    try:
        return PartMeta(**orjson.loads(part_meta_path(dump).read_bytes()))
    except (FileNotFoundError, orjson.JSONDecodeError, TypeError):
        return None


def write_part_meta(dump: Path, meta: PartMeta) -> None:
    files.write_json(part_meta_path(dump), asdict(meta))

"""Field-presence / JSON-type / size profile of a JSONL dump, for comparing synthetic and real files.

The profile is what the generator is calibrated against (``tests/pipelines/synth/test_calibration.py``): for
every top-level key, how often it is present and with which JSON types — including the real dump's mixed
types, such as numbers written as strings (``numstr``) — plus list lengths and document sizes. Lines that
are not JSON objects are counted by reason, never fatal.
"""

from __future__ import annotations

import gzip
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

JSON_TYPES = ("string", "numstr", "int", "float", "bool", "null", "list", "object")


def json_type(value: Any) -> str:
    """JSON type of a parsed value; strings that parse as numbers are ``numstr``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "numstr" if _is_number(value) else "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    return "object"


def _is_number(text: str) -> bool:
    if not text or len(text) > 32:
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@dataclass
class FieldStats:
    present: int = 0
    types: Counter = field(default_factory=Counter)
    size: int = 0  # serialized bytes of key + value, summed
    list_items: int = 0
    lists: int = 0
    item_types: Counter = field(default_factory=Counter)
    object_keys: int = 0
    objects: int = 0

    def add(self, key: str, value: Any, raw_size: int) -> None:
        self.present += 1
        kind = json_type(value)
        self.types[kind] += 1
        self.size += raw_size
        if kind == "list":
            self.lists += 1
            self.list_items += len(value)
            for item in value[:20]:
                self.item_types[json_type(item)] += 1
        elif kind == "object":
            self.objects += 1
            self.object_keys += len(value)


@dataclass
class Profile:
    """Profile of one dump file."""

    source: str
    lines: int = 0
    documents: int = 0
    bad_lines: Counter = field(default_factory=Counter)
    sizes: list[int] = field(default_factory=list)
    fields: dict[str, FieldStats] = field(default_factory=lambda: defaultdict(FieldStats))

    def add_line(self, line: bytes) -> None:
        self.lines += 1
        stripped = line.strip()
        if not stripped:
            self.bad_lines["empty"] += 1
            return
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            self.bad_lines["invalid_utf8" if "utf-8" in str(exc).lower() else "invalid_json"] += 1
            return
        if not isinstance(doc, dict):
            self.bad_lines[f"not_an_object:{json_type(doc)}"] += 1
            return
        self.documents += 1
        self.sizes.append(len(stripped))
        for key, value in doc.items():
            self.fields[key].add(key, value, len(key) + 4 + len(orjson.dumps(value)))

    def rate(self, key: str) -> float:
        stats = self.fields.get(key)
        return stats.present / self.documents if stats and self.documents else 0.0

    def type_share(self, key: str, kind: str) -> float:
        stats = self.fields.get(key)
        return stats.types[kind] / stats.present if stats and stats.present else 0.0

    def dominant_type(self, key: str) -> str | None:
        stats = self.fields.get(key)
        if not stats or not stats.present:
            return None
        return stats.types.most_common(1)[0][0]

    def size_summary(self) -> dict[str, float]:
        if not self.sizes:
            return {"mean": 0, "p50": 0, "p90": 0, "max": 0}
        ordered = sorted(self.sizes)
        return {
            "mean": sum(ordered) / len(ordered),
            "p50": ordered[len(ordered) // 2],
            "p90": ordered[int(len(ordered) * 0.9)],
            "max": ordered[-1],
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``offpipe synth --profile FILE --json`` prints)."""
        fields = {}
        for key, stats in sorted(self.fields.items(), key=lambda kv: (-kv[1].present, kv[0])):
            entry: dict[str, Any] = {
                "rate": round(stats.present / self.documents, 4),
                "types": {k: round(v / stats.present, 4) for k, v in stats.types.most_common()},
                "mean_size": round(stats.size / stats.present, 1),
            }
            if stats.lists:
                entry["mean_len"] = round(stats.list_items / stats.lists, 2)
                total = sum(stats.item_types.values())
                if total:
                    entry["item_types"] = {k: round(v / total, 4) for k, v in stats.item_types.most_common()}
            if stats.objects:
                entry["mean_keys"] = round(stats.object_keys / stats.objects, 2)
            fields[key] = entry
        return {
            "source": self.source,
            "lines": self.lines,
            "documents": self.documents,
            "bad_lines": dict(self.bad_lines),
            "size": self.size_summary(),
            "distinct_keys": len(self.fields),
            "fields": fields,
        }


def iter_lines(path: Path) -> Iterator[bytes]:
    """Raw lines of a .jsonl or .jsonl.gz file (bytes: invalid UTF-8 must reach the profiler intact)."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        yield from handle


def profile_file(
    path: Path, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> Profile:
    """Profile the first ``limit`` lines (all by default) of a dump."""
    profile = Profile(source=str(path))
    for count, line in enumerate(iter_lines(path), start=1):
        profile.add_line(line)
        if progress is not None and count % 1000 == 0:
            progress(1000)
        if limit is not None and count >= limit:
            break
    return profile


def format_profiles(profiles: list[Profile], top: int = 60) -> str:
    """Side-by-side text table: presence rate and type mix of the ``top`` most frequent keys."""
    first = profiles[0]
    keys = sorted(first.fields, key=lambda k: -first.fields[k].present)[:top]
    for other in profiles[1:]:
        keys += [
            k for k in sorted(other.fields, key=lambda k: -other.fields[k].present)[:top] if k not in keys
        ]
    out = io.StringIO()
    for index, profile in enumerate(profiles, start=1):
        size = profile.size_summary()
        bad = ", ".join(f"{k}={v}" for k, v in sorted(profile.bad_lines.items())) or "none"
        out.write(
            f"[{index}] {profile.source}\n    lines={profile.lines} documents={profile.documents} "
            f"distinct_keys={len(profile.fields)} bad_lines: {bad}\n"
            f"    document bytes: mean={size['mean']:.0f} p50={size['p50']:.0f} p90={size['p90']:.0f} "
            f"max={size['max']:.0f}\n"
        )
    header = f"{'field':<44}" + "".join(f" | [{i}] rate  types{'':<19}" for i in range(1, len(profiles) + 1))
    out.write("\n" + header + "\n" + "-" * len(header) + "\n")
    for key in keys:
        row = f"{key[:44]:<44}"
        for profile in profiles:
            stats = profile.fields.get(key)
            if not stats:
                row += f" | {'-':>9}  {'':<24}"
                continue
            mix = ",".join(f"{t}:{c * 100 // stats.present}" for t, c in stats.types.most_common(3))
            row += f" | {profile.rate(key):>9.3f}  {mix[:24]:<24}"
        out.write(row.rstrip() + "\n")
    return out.getvalue()

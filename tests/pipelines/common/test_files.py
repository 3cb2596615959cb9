"""Atomic writes: the target is the old file or the new one; no temp file is left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from pipelines.common import files


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_replace_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    files.write_json(target, {"rows": 1})
    files.write_json(target, {"rows": 2})
    assert orjson.loads(target.read_bytes()) == {"rows": 2}
    files.write_text(tmp_path / "a.md", "é\n")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "é\n"
    assert _names(tmp_path / "out") == ["report.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by the other users of the data folder


def test_a_crash_mid_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "plan.parquet"
    target.write_bytes(b"old")

    class CrashError(Exception):
        pass

    with pytest.raises(CrashError), files.atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise CrashError
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["plan.parquet"]


def test_a_failing_rename_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")

    def disk_full(self: Path, other: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        files.write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["data.bin"]


def test_the_temp_file_is_beside_the_target_and_named_for_the_sweep(tmp_path: Path) -> None:
    target = tmp_path / "brand.txt"
    with files.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(files.temp_name_prefix(target)) and tmp.name.endswith(files.TEMP_SUFFIX)
        with tmp.open("wb") as handle:
            handle.write(b"new")
            os.fsync(handle.fileno())
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_bytes() == b"new"

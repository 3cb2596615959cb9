"""The snapshot guard (``docs/reliability.md`` F9, F10): an empty or implausible snapshot never replaces a
good one.

Every refusal must leave the previous snapshot, quarantine and report byte-identical and no temporary file,
through the library, the command line (exit 1, one line on stderr) and the flow.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import ConfigError, get_settings
from pipelines.convert.convert import SnapshotRefusedError, convert_dump
from pipelines.convert.reader import DumpReadError

pytestmark = pytest.mark.usefixtures("production_guard")

EXE = Path(sys.executable).with_name("offpipe")
HTML = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n<body>Back soon</body></html>\n"


def products(path: Path, count: int, start: int = 0) -> Path:
    lines = [
        orjson.dumps({"code": f"{i:013d}", "product_name": f"p{i}"}) for i in range(start, start + count)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def outputs(out: Path) -> dict[str, bytes]:
    """Every file of the snapshot folder (temporary ones included) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A 100-row off snapshot in ``out`` (installed without the floor), and its files' bytes."""
    out = tmp_path / "out"
    report = convert_dump(products(tmp_path / "good.jsonl", 100), "off", out_dir=out, min_rows=0)
    assert report.rows_out == 100
    return out, outputs(out)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"", "empty.jsonl"),
        (b"\n\n", "blank.jsonl"),
        (HTML, "page.jsonl"),
        (b'{"product_name": "no code"}\n[1]\n', "junk.jsonl"),
        (gzip.compress(HTML), "page.jsonl.gz"),
    ],
)
def test_input_without_a_product_is_refused_even_forced(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path, body: bytes, name: str
) -> None:
    out, before = installed
    source = tmp_path / name
    source.write_bytes(body)
    with pytest.raises(SnapshotRefusedError, match="no valid product") as refused:
        convert_dump(source, "off", out_dir=out, min_rows=0, force=True)
    assert refused.value.check == "no_rows" and refused.value.rows == 0
    assert "\n" not in str(refused.value)
    assert outputs(out) == before


def test_input_without_a_product_is_refused_without_a_previous_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_bytes(b"")
    with pytest.raises(SnapshotRefusedError, match="the input has no line"):
        convert_dump(source, "obf", out_dir=tmp_path / "out", min_rows=0, force=True)
    assert list((tmp_path / "out").iterdir()) == []


def test_plain_text_named_gz_is_refused(installed: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    """A file named .gz that is not gzip data was read as text and became a 1-row snapshot."""
    out, before = installed
    source = tmp_path / "products.jsonl.gz"
    source.write_bytes(b'{"code": "3017620422003"}\n')
    with pytest.raises(DumpReadError, match="not gzip data"):
        convert_dump(source, "off", out_dir=out, min_rows=0, force=True)
    assert outputs(out) == before


def test_flavor_floor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The floor is the dump's (OFF_DUMP_MIN_LINES_<FLAVOR>): off's production value refuses 100 rows, with
    the figures; min_rows overrides it; the variable sets it per flavor."""
    source = products(tmp_path / "d.jsonl", 100)
    with pytest.raises(SnapshotRefusedError, match="fewer than the minimum 2,800,000") as refused:
        convert_dump(source, "off", out_dir=tmp_path / "off")
    assert refused.value.figures() == {
        "check": "min_rows", "rows": 100, "min_rows": 2_800_000, "previous_rows": None, "min_ratio": 0.9,
    }  # fmt: skip
    assert list((tmp_path / "off").iterdir()) == []
    with pytest.raises(SnapshotRefusedError, match="100 rows, fewer than the minimum 101"):
        convert_dump(source, "off", out_dir=tmp_path / "off", min_rows=101)
    assert convert_dump(source, "off", out_dir=tmp_path / "off", min_rows=100).rows_out == 100
    monkeypatch.setenv("OFF_DUMP_MIN_LINES_OBF", "50")
    report = convert_dump(source, "obf", out_dir=tmp_path / "obf")
    assert (report.rows_out, report.min_rows) == (100, 50)
    monkeypatch.setenv("OFF_DUMP_MIN_LINES_OBF", "150")
    with pytest.raises(SnapshotRefusedError, match="OFF_DUMP_MIN_LINES_OBF"):
        convert_dump(source, "obf", out_dir=tmp_path / "obf")


def test_shrink_below_the_ratio_is_refused_unless_forced(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    out, before = installed
    smaller = products(tmp_path / "smaller.jsonl", 89)
    with pytest.raises(
        SnapshotRefusedError, match=r"89 rows, 89\.0% of the previous snapshot's 100"
    ) as refused:
        convert_dump(smaller, "off", out_dir=out, min_rows=0)
    assert refused.value.figures() == {
        "check": "shrink", "rows": 89, "min_rows": 0, "previous_rows": 100, "min_ratio": 0.9,
    }  # fmt: skip
    assert outputs(out) == before
    report = convert_dump(smaller, "off", out_dir=out, min_rows=0, force=True)
    assert (report.rows_out, report.previous_rows, report.shrink_accepted) == (89, 100, True)
    assert pq.read_metadata(out / "products.parquet").num_rows == 89
    assert orjson.loads((out / "products.report.json").read_bytes())["shrink_accepted"] is True


def test_shrink_at_the_ratio_or_growth_is_accepted(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    out, _ = installed
    report = convert_dump(products(tmp_path / "d90.jsonl", 90), "off", out_dir=out, min_rows=0)
    assert (report.rows_out, report.previous_rows, report.shrink_accepted) == (90, 100, False)
    report = convert_dump(products(tmp_path / "d200.jsonl", 200), "off", out_dir=out, min_rows=0)
    assert (report.rows_out, report.previous_rows) == (200, 90)


def test_ratio_setting(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = installed
    monkeypatch.setenv("OFF_SNAPSHOT_MIN_RATIO", "0.5")
    assert convert_dump(products(tmp_path / "d.jsonl", 50), "off", out_dir=out, min_rows=0).rows_out == 50
    monkeypatch.setenv("OFF_SNAPSHOT_MIN_RATIO", "0")
    assert convert_dump(products(tmp_path / "d.jsonl", 1), "off", out_dir=out, min_rows=0).rows_out == 1
    for bad in ("1.5", "-0.1", "most"):
        with pytest.raises(ConfigError, match="OFF_SNAPSHOT_MIN_RATIO"):
            get_settings({"OFF_SNAPSHOT_MIN_RATIO": bad})


def test_unreadable_previous_snapshot_does_not_block(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """A previous file that is not Parquet protects nothing: the new snapshot replaces it."""
    out, _ = installed
    (out / "products.parquet").write_bytes(b"not parquet")
    report = convert_dump(products(tmp_path / "d.jsonl", 10), "off", out_dir=out, min_rows=0)
    assert (report.rows_out, report.previous_rows) == (10, None)


def test_quarantined_lines_do_not_count_as_rows(
    installed: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """95 lines of which 10 are junk: 85 rows, below 90 % of 100."""
    out, before = installed
    source = products(tmp_path / "d.jsonl", 85)
    source.write_bytes(source.read_bytes() + b"[not a product]\n" * 10)
    with pytest.raises(SnapshotRefusedError, match="85 rows"):
        convert_dump(source, "off", out_dir=out, min_rows=0)
    assert outputs(out) == before


def _offpipe(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The command line in a fresh process, with the production floors (nothing in the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFF_DUMP_MIN_LINES_", "OFF_SNAPSHOT_"))}
    env["OFF_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [str(EXE), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_cli_refusals_exit_1_with_one_line_and_keep_the_snapshot(data_dir: Path, tmp_path: Path) -> None:
    first = _offpipe(
        "convert", str(products(tmp_path / "good.jsonl", 100)), "--min-rows", "0", data_dir=data_dir
    )
    assert first.returncode == 0, first.stderr
    out = data_dir / "parquet" / "off"
    before = outputs(out)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_bytes(b'{"code": "3017620422003"}\n')
    smaller = products(tmp_path / "smaller.jsonl", 50)
    cases = [
        ((str(empty), "--min-rows", "0", "--force"), "no valid product"),
        ((str(plain), "--min-rows", "0", "--force"), "not gzip data"),
        ((str(smaller),), "fewer than the minimum 2,800,000"),
        ((str(smaller), "--min-rows", "0"), "50.0% of the previous snapshot's 100"),
    ]
    for args, message in cases:
        run = _offpipe("convert", *args, data_dir=data_dir)
        assert run.returncode == 1, (args, run.stderr)
        assert run.stdout == ""
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr
        assert outputs(out) == before
    forced = _offpipe("convert", str(smaller), "--min-rows", "0", "--force", data_dir=data_dir)
    assert forced.returncode == 0, forced.stderr
    report = orjson.loads(forced.stdout)
    assert (report["rows_out"], report["previous_rows"], report["shrink_accepted"]) == (50, 100, True)

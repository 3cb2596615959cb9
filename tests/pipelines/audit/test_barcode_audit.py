"""The barcode migration audit reproduces the seed's report from a snapshot (counts, CSV, markdown)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import orjson
import pytest

from pipelines import barcodes
from pipelines.audit.barcodes import audit_barcodes
from pipelines.common.sql import connect
from pipelines.convert.convert import convert_dump

# (code, last_modified_t): vectors from the seed's migration log.
PRODUCTS = [
    ("99723824", 10),  # EAN8 at the root: moved to 000/009/972/3824
    ("00000111222", 10),  # 000/001/112/22 → 000/000/011/1222, code changes to 00111222
    ("0006", 10),  # 0006 → 000/000/000/0006
    ("3017620422003", 10),  # already split the new way: same path
    ("12", 10),  # bogus: invalid
    ("06147198", 20),  # both normalize to 06147198; the more recent one keeps the folder…
    ("6147198", 10),  # … this one is a conflict
    ("10181040313", 30),  # old 101/810/403/13 …
    ("0010181040313", 10),  # … while this one already sits at 001/018/104/0313: it stays
]


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    source = tmp_path / "dump.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"code": c, "last_modified_t": t}) + b"\n" for c, t in PRODUCTS))
    convert_dump(source, "obf", out_dir=tmp_path / "parquet")
    return tmp_path / "parquet" / "products.parquet"


def test_counts_and_statuses(snapshot: Path, tmp_path: Path) -> None:
    report = audit_barcodes("obf", snapshot=snapshot, out_dir=tmp_path / "reports")
    assert report.summary_line() == (
        "9 products - invalid code: 1 moved: 4 not moved: 2 same path: 2 changed code: 4"
    )
    assert report.invalid_codes == ["12"]
    assert sorted(report.conflicts) == [
        ("101/810/403/13", "001/018/104/0313"),
        ("6147198", "000/000/614/7198"),
    ]
    with Path(report.csv).open(newline="") as handle:
        rows = {row["code"]: row for row in csv.DictReader(handle)}
    assert list(next(iter(rows.values()))) == [
        "code",
        "new_code",
        "old_path",
        "new_path",
        "status",
        "changed_code",
    ]
    assert rows["99723824"] | {} == {
        "code": "99723824", "new_code": "99723824", "old_path": "99723824", "new_path": "000/009/972/3824",
        "status": "moved", "changed_code": "false",
    }  # fmt: skip
    assert (
        rows["00000111222"]["new_code"] == "00111222" and rows["00000111222"]["old_path"] == "000/001/112/22"
    )
    assert rows["3017620422003"]["status"] == "same path"
    assert rows["0010181040313"]["status"] == "same path"
    assert rows["06147198"]["status"] == "moved" and rows["6147198"]["status"] == "conflict"
    assert rows["12"]["status"] == "invalid"
    markdown = Path(report.markdown).read_text()
    assert report.summary_line() in markdown
    assert "new path exists, not moving 101/810/403/13 to 001/018/104/0313" in markdown
    saved = json.loads((tmp_path / "reports" / "barcode-audit.json").read_text())
    assert saved["not_moved"] == 2


def test_statuses_partition_the_products(tmp_path: Path, real_off_sample: Path) -> None:
    convert_dump(real_off_sample, "off", out_dir=tmp_path / "parquet")
    report = audit_barcodes("off", snapshot=tmp_path / "parquet" / "products.parquet", out_dir=tmp_path / "r")
    assert report.products == 718
    assert report.moved + report.same_path + report.not_moved + report.invalid == report.products
    assert report.same_path > 600  # most real codes are already normalized 13-digit codes


def test_missing_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Parquet snapshot"):
        audit_barcodes("off", snapshot=tmp_path / "nope.parquet")


def test_legacy_split_macro_equals_python() -> None:
    rng = random.Random(7)
    codes = ["".join(rng.choices("0123456789", k=rng.randint(1, 26))) for _ in range(20_000)]
    codes += ["99723824", "00000111222", "123456789", "(01)03017620422003", "abc"]
    con = connect()
    got = con.execute(
        "SELECT legacy_split_code(c) FROM unnest($codes) WITH ORDINALITY AS t(c, i) ORDER BY i",
        {"codes": codes},
    ).fetchall()
    con.close()
    assert [row[0] for row in got] == [barcodes.legacy_split_code(c) for c in codes]

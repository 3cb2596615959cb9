"""The barcode migration audit: Product Opener's 2024 normalization applied to a whole snapshot, set-based.

The seed (``../shared/seeds/002_5a4ab74c17aa43bb.txt``) reports, per flavor, how many products the new
barcode normalization affected: invalid codes, changed codes, moved folders, conflicts ("new path exists,
not moving A to B"), unchanged folders. This module reproduces that report from a Parquet snapshot with one
SQL query (``sql/audit/barcode_migration.sql``), writes the per-product log as CSV and a markdown summary,
all atomically, under ``$OFF_DATA_DIR/reports/barcodes/<flavor>/``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.common import files
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.sql import connect, load_sql
from pipelines.convert.snapshot import PRODUCTS_FILE

logger = logging.getLogger(__name__)

CSV_FILE = "barcode-audit.csv"
MARKDOWN_FILE = "barcode-audit.md"
JSON_FILE = "barcode-audit.json"
LISTED = 200  # conflicts and invalid codes listed in the markdown (all of them are in the CSV)


@dataclass
class AuditReport:
    flavor: str
    snapshot: str
    products: int = 0
    invalid: int = 0
    moved: int = 0
    not_moved: int = 0  # conflicts
    same_path: int = 0
    changed_code: int = 0
    invalid_codes: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    csv: str = ""
    markdown: str = ""

    def summary_line(self) -> str:
        """The seed's one-line form: ``N products - invalid code: … moved: … not moved: … same path: …``."""
        return (
            f"{self.products} products - invalid code: {self.invalid} moved: {self.moved} "
            f"not moved: {self.not_moved} same path: {self.same_path} changed code: {self.changed_code}"
        )

    def to_markdown(self) -> str:
        lines = [
            f"# Barcode migration audit — {self.flavor}",
            "",
            f"Snapshot: `{self.snapshot}`",
            "",
            self.summary_line(),
            "",
            "| status | products |",
            "| --- | --- |",
            f"| moved | {self.moved} |",
            f"| same path | {self.same_path} |",
            f"| not moved (conflict) | {self.not_moved} |",
            f"| invalid code | {self.invalid} |",
            f"| changed code | {self.changed_code} |",
            "",
        ]
        if self.conflicts:
            lines += [f"## Conflicts ({self.not_moved})", ""]
            lines += [f"- new path exists, not moving {old} to {new}" for old, new in self.conflicts[:LISTED]]
            if self.not_moved > LISTED:
                lines.append(f"- … {self.not_moved - LISTED} more in the CSV")
            lines.append("")
        if self.invalid_codes:
            lines += [f"## Invalid codes ({self.invalid})", ""]
            lines += [f"- `{code}`" for code in self.invalid_codes[:LISTED]]
            if self.invalid > LISTED:
                lines.append(f"- … {self.invalid - LISTED} more in the CSV")
            lines.append("")
        lines.append(f"Per-product log: `{self.csv}` (code, new_code, old_path, new_path, status).")
        return "\n".join(lines) + "\n"


def audit_barcodes(
    flavor: Flavor | str,
    *,
    snapshot: Path | None = None,
    out_dir: Path | None = None,
    settings: Settings | None = None,
) -> AuditReport:
    """Audit ``snapshot`` (default: the flavor's Parquet snapshot); write CSV, markdown and JSON reports."""
    settings = settings or get_settings()
    flavor = Flavor(flavor)
    snapshot = snapshot or settings.parquet_dir(flavor) / PRODUCTS_FILE
    if not snapshot.is_file():
        raise FileNotFoundError(f"no Parquet snapshot at {snapshot}")
    out_dir = out_dir or settings.data_dir / "reports" / "barcodes" / flavor.value
    out_dir.mkdir(parents=True, exist_ok=True)
    report = AuditReport(flavor=flavor.value, snapshot=str(snapshot))
    csv_path, md_path = out_dir / CSV_FILE, out_dir / MARKDOWN_FILE
    con = connect()
    tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
    try:
        con.read_parquet(str(snapshot)).create_view("barcode_source")
        con.execute(load_sql("audit/barcode_migration"))
        con.execute(load_sql("audit/barcode_migration_csv"), {"path": str(tmp_csv)})
        summary = con.execute(load_sql("audit/barcode_migration_summary"), {"listed": LISTED}).fetchall()[0]
    finally:
        con.close()
    (
        report.products,
        report.invalid,
        report.moved,
        report.not_moved,
        report.same_path,
        report.changed_code,
    ) = (int(v) for v in summary[:6])
    report.invalid_codes = list(summary[6] or [])
    report.conflicts = [(pair[0], pair[1]) for pair in summary[7] or []]
    report.csv, report.markdown = str(csv_path), str(md_path)
    tmp_csv.replace(csv_path)
    files.write_text(md_path, report.to_markdown())
    files.write_json(out_dir / JSON_FILE, asdict(report))
    logger.info("barcode audit %s: %s", flavor.value, report.summary_line())
    return report

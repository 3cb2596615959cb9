"""docs/ocr.md describes every column of the table and every quarantine reason."""

from __future__ import annotations

import re

from pipelines.ocr import rows
from pipelines.ocr.schema import OCR_TEXT_SCHEMA
from tests.conftest import REPO

DOC = (REPO / "docs" / "ocr.md").read_text(encoding="utf-8")


def test_every_column_is_documented_in_schema_order() -> None:
    documented = re.findall(r"^\| `([a-z_]+)` \| [^|]*?(?:string|list|struct)", DOC, flags=re.M)
    assert documented == OCR_TEXT_SCHEMA.names


def test_every_quarantine_reason_is_documented() -> None:
    reasons = {
        value
        for name, value in vars(rows).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z_]+", value)
    }
    assert len(reasons) == 10
    documented = set(re.findall(r"^  \| `([a-z_]+)` \|", DOC, flags=re.M))
    assert documented == reasons

"""What the SQL contract tests (tests/sql/) read of a file and of the code that runs it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from pipelines.common.sql import load_sql

ROOT = Path(__file__).resolve().parents[2]


def sql_body(name: str) -> str:
    """The file's SQL without its comments (string literals kept: templates may sit inside them)."""
    return "\n".join(code_part(line) for line in load_sql(name).splitlines())


def code_part(line: str) -> str:
    """``line`` up to a ``--`` comment that is outside string literals."""
    quoted = False
    for i, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i]
    return line


@cache
def code_text() -> str:
    """Every Python file of the pipeline (pipelines/ and flows/), as one text."""
    files = [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "flows").rglob("*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def used_by_name(name: str) -> bool:
    """Whether some code names the file ``name`` by a literal string (what load_sql is given)."""
    return re.search(rf"[\"']{re.escape(name)}[\"']", code_text()) is not None

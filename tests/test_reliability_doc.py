"""docs/reliability.md promises nothing untested: every fault row names tests, and every named test exists."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
NODE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]`]*\])?`")


@cache
def _test_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def _catalogue_rows() -> list[str]:
    """The rows of the fault tables (markdown rows whose first cell is a fault id such as `F12`)."""
    return [
        line for line in DOC.read_text(encoding="utf-8").splitlines() if re.match(r"\|\s*F\d+\s*\|", line)
    ]


def test_every_fault_row_names_at_least_one_test() -> None:
    rows = _catalogue_rows()
    assert len(rows) >= 20
    untested = [row.split("|")[1].strip() for row in rows if not NODE.search(row)]
    assert untested == []


def test_fault_ids_are_unique() -> None:
    ids = [row.split("|")[1].strip() for row in _catalogue_rows()]
    assert len(ids) == len(set(ids))


def test_every_named_test_exists() -> None:
    named = NODE.findall(DOC.read_text(encoding="utf-8"))
    assert named
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (REPO / path).is_file() or name not in _test_functions(REPO / path)
    ]
    assert missing == []

"""The package ships what it reads at run time: every package of the tree, and ``sql/`` as ``pipelines._sql``.

The full proof is ``.ci/wheel-check`` (a wheel installed in a fresh venv runs the pipeline); these tests catch
the cheap mistakes early: a new package missing from ``pyproject.toml``, the SQL folder resolved from the
wrong place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipelines.common import sql
from tests.conftest import REPO

SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_on_disk_is_listed() -> None:
    on_disk = {
        ".".join(folder.relative_to(REPO).parts)
        for top in ("pipelines", "flows")
        for folder in [REPO / top, *(REPO / top).rglob("*")]
        if folder.is_dir() and (folder / "__init__.py").is_file()
    }
    assert set(SETUPTOOLS["packages"]) == on_disk | {"pipelines._sql"}


def test_sql_folder_ships_as_pipelines_sql() -> None:
    assert SETUPTOOLS["package-dir"] == {"pipelines._sql": "sql"}
    assert SETUPTOOLS["package-data"]["pipelines._sql"] == ["**/*.sql"]


def test_a_checkout_reads_the_sql_folder_beside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFF_SQL_DIR", raising=False)
    assert sql.packaged_sql_dir() == REPO / "sql"
    assert sql.sql_dir() == REPO / "sql"


def test_off_sql_dir_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "probe.sql").write_text("SELECT 42 AS answer", encoding="utf-8")
    monkeypatch.setenv("OFF_SQL_DIR", str(tmp_path))
    assert sql.sql_dir() == tmp_path
    assert sql.load_sql("probe") == "SELECT 42 AS answer"


def test_an_installed_package_reads_its_shipped_sql(tmp_path: Path) -> None:
    """The layout a wheel installs (``pipelines/_sql/``), with no ``sql/`` beside the package."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "pipelines", site / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sql", site / "pipelines" / "_sql")
    code = (
        "from pipelines.common.sql import load_sql, sql_dir; "
        "load_sql('convert/nutriment_keys'); print(sql_dir())"
    )
    env = {key: value for key, value in os.environ.items() if key != "OFF_SQL_DIR"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()) == site / "pipelines" / "_sql"

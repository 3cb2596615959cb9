"""Reference-data settings (defaults, Robotoff ref, overrides) and ``offpipe reference refresh``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import ConfigError, Settings, get_settings
from pipelines.reference.catalog import reference_files
from tests.support.http_server import DumpServer

runner = CliRunner()


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings({})
    assert settings.grammars_dir == tmp_path / "data" / "grammars"
    assert settings.keywords_dir == tmp_path / "data" / "ocr-keywords"
    assert settings.taxonomy_url == "https://static.openfoodfacts.org/data/taxonomies"
    assert settings.robotoff_data_url == "https://raw.githubusercontent.com/openfoodfacts/robotoff/main/data"
    assert (
        settings.robotoff_media_url
        == "https://media.githubusercontent.com/media/openfoodfacts/robotoff/main/data"
    )
    urls = {f.name: f.url for f in reference_files(settings)}
    assert urls["categories"] == "https://static.openfoodfacts.org/data/taxonomies/categories.full.json"
    assert urls["label_flashtext.txt"] == f"{settings.robotoff_data_url}/ocr/label_flashtext.txt"
    assert urls["brand_from_taxonomy.gz"] == f"{settings.robotoff_media_url}/ocr/brand_from_taxonomy.gz"
    assert urls["brand_prefix.json.gz"] == f"{settings.robotoff_media_url}/brand_prefix.json.gz"
    assert urls["packaging_fr.lark"] == f"{settings.robotoff_data_url}/grammars/packaging_fr.lark"


def test_robotoff_ref_and_overrides(tmp_path: Path) -> None:
    settings = get_settings(
        {
            "OFF_DATA_DIR": str(tmp_path),
            "OFF_ROBOTOFF_REF": "v1.85.10",
            "OFF_GRAMMARS_DIR": str(tmp_path / "g"),
            "OFF_TAXONOMY_URL": "http://127.0.0.1:9000/tax/",
        }
    )
    assert settings.robotoff_data_url.endswith("/robotoff/v1.85.10/data")
    assert settings.robotoff_media_url.endswith("/robotoff/v1.85.10/data")
    assert settings.grammars_dir == tmp_path / "g"
    assert settings.taxonomy_url == "http://127.0.0.1:9000/tax"
    mirror = get_settings({"OFF_ROBOTOFF_DATA_URL": "https://mirror.example/robotoff/data"})
    assert mirror.robotoff_data_url == "https://mirror.example/robotoff/data"


def test_grammars_sit_beside_the_keyword_lists_unless_set(tmp_path: Path) -> None:
    """A checkout's data (``OFF_KEYWORDS_DIR=../shared/data/ocr-keywords``) brings its grammars along."""
    lists = tmp_path / "shared" / "ocr-keywords"
    settings = get_settings({"OFF_DATA_DIR": str(tmp_path / "data"), "OFF_KEYWORDS_DIR": str(lists)})
    assert settings.grammars_dir == tmp_path / "shared" / "grammars"
    settings = get_settings({"OFF_KEYWORDS_DIR": str(lists), "OFF_GRAMMARS_DIR": str(tmp_path / "g")})
    assert settings.grammars_dir == tmp_path / "g"


@pytest.mark.parametrize("name", ["OFF_TAXONOMY_URL", "OFF_ROBOTOFF_DATA_URL", "OFF_ROBOTOFF_MEDIA_URL"])
def test_bad_urls_are_clear_errors(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        get_settings({name: "ftp://example.org"})


def test_cli_refresh_prints_the_report(server: DumpServer, settings: Settings) -> None:
    result = runner.invoke(app, ["reference", "refresh", "--only", "categories", "--only", "brand.txt"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["counts"] == {"downloaded": 2}
    assert (settings.taxonomy_dir / "categories.full.json.gz").is_file()
    again = runner.invoke(app, ["reference", "refresh", "--only", "categories", "--force"])
    assert json.loads(again.stdout)["counts"] == {"updated": 1}


def test_cli_exits_1_when_a_required_file_is_missing(server: DumpServer, settings: Settings) -> None:
    server.files.clear()
    result = runner.invoke(app, ["reference", "refresh", "--only", "brand.txt"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failed"] == ["brand.txt"]


def test_cli_rejects_unknown_names(settings: Settings) -> None:
    result = runner.invoke(app, ["reference", "refresh", "--only", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output
